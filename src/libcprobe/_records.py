"""A light stand-in for :class:`typing.NamedTuple`, so that importing libcprobe's detection
path loads neither :mod:`typing` nor :mod:`collections` (together ~50 M instructions, several
times what the rest of ``detect()`` costs in a fresh interpreter).

Modules write ``class X(NamedTuple): a: int; b: str = ""`` as usual, and import the name from
here at run time and from :mod:`typing` for type checkers::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple
    else:
        from ._records import NamedTuple

The class made is a tuple subclass with what ``collections.namedtuple`` gives: fields by name,
``_fields``, ``_field_defaults``, ``_make``, ``_replace``, ``_asdict``, ``__match_args__``, the
same ``repr``, and pickling by value. Type checkers see :class:`typing.NamedTuple` itself, so
the types users see do not change.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

try:
    from _collections import _tuplegetter  # type: ignore[import-not-found]  # collections' C field descriptor
except ImportError:  # pragma: no cover - other implementations
    _tuplegetter = None

__all__ = ["NamedTuple"]

_tuple_new = tuple.__new__


def _field(index: int, doc: str) -> object:
    if _tuplegetter is not None:
        return _tuplegetter(index, doc)
    return property(lambda self: self[index], doc=doc)  # pragma: no cover


class _RecordType(type):
    """Builds each ``class X(NamedTuple)`` as a tuple subclass from its annotations."""

    def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, object]) -> type:
        if ns.get("_root_", False):
            return type.__new__(mcls, name, bases, ns)
        annotations = ns.get("__annotations__", {})
        assert isinstance(annotations, dict)
        fields = tuple(annotations)
        defaults = {f: ns[f] for f in fields if f in ns}
        if list(defaults) != list(fields[len(fields) - len(defaults) :]):
            raise TypeError(f"{name}: fields with defaults must come after those without")
        body: dict[str, object] = {k: v for k, v in ns.items() if k not in defaults}
        body["__slots__"] = ()
        body["_fields"] = fields
        body["_field_defaults"] = defaults
        body["__match_args__"] = fields
        for index, field in enumerate(fields):
            body[field] = _field(index, f"Alias for field number {index}")
        return type.__new__(mcls, name, (_Record,), body)


class _Record(tuple):  # type: ignore[type-arg]
    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _field_defaults: dict[str, object] = {}  # noqa: RUF012

    def __new__(cls, *args: object, **kwargs: object) -> _Record:
        fields = cls._fields
        if not kwargs and len(args) == len(fields):
            return _tuple_new(cls, args)
        if len(args) > len(fields):
            raise TypeError(f"{cls.__name__} takes {len(fields)} arguments, got {len(args)}")
        values = list(args)
        for field in fields[len(args) :]:
            if field in kwargs:
                values.append(kwargs.pop(field))
            elif field in cls._field_defaults:
                values.append(cls._field_defaults[field])
            else:
                raise TypeError(f"{cls.__name__}() missing argument {field!r}")
        if kwargs:
            raise TypeError(f"{cls.__name__}() got unexpected arguments {sorted(kwargs)}")
        return _tuple_new(cls, values)

    # tuple.__new__ itself, called with the class: no Python frame per record (the ELF reader
    # makes one per dynamic entry). Unlike namedtuple's it does not check the length.
    _make: classmethod[Any, Any, Any] = classmethod(_tuple_new)

    def _replace(self, **changes: object) -> _Record:
        values = [changes.pop(f, v) for f, v in zip(self._fields, self)]
        if changes:
            raise ValueError(f"got unexpected field names: {sorted(changes)}")
        return _tuple_new(type(self), values)

    def _asdict(self) -> dict[str, object]:
        return dict(zip(self._fields, self))

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={v!r}" for f, v in zip(self._fields, self))
        return f"{type(self).__name__}({inner})"

    def __getnewargs__(self) -> tuple[object, ...]:
        return tuple(self)


class NamedTuple(metaclass=_RecordType):
    """Base class: ``class X(NamedTuple)`` makes a tuple subclass (see the module doc)."""

    _root_ = True
