"""The values libcprobe returns: :class:`Family`, :class:`LibcVersion`, :class:`Evidence` and
:class:`LibcInfo`. Plain immutable data; no I/O happens here."""

from __future__ import annotations

# Nothing from enum, re or typing at run time: this module is on the path of every detect()
# call, and those three cost several times what detection itself does in a fresh interpreter.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import enum
    from collections.abc import Iterable, Sequence
    from typing import Any, Callable, Literal, NamedTuple, Optional, Union

    #: What an :class:`Evidence` supports; for type checkers only, so a misspelling fails mypy.
    Fact = Literal["family", "version", "linkage", "arch", "interpreter", "extensions"]
    #: The kinds of :class:`Evidence` (see its docstring); for type checkers only.
    Source = Literal[
        "elf-header",
        "elf-interp",
        "elf-needed",
        "elf-soname",
        "elf-verneed",
        "elf-verdef",
        "elf-note",
        "elf-entry",
        "string",
        "confstr",
        "strerror",
        "proc-maps",
        "proc-exe",
        "sysconfig",
        "env",
        "execute",
        "platform",
        "file",
    ]
else:
    from ._records import NamedTuple

__all__ = ["Evidence", "Family", "LibcInfo", "LibcVersion"]

if TYPE_CHECKING:  # what type checkers (and so users' mypy) see: a str enum

    class Family(str, enum.Enum):
        """A C library family. The value is the lower-case name used in JSON and in the CLI."""

        GLIBC = "glibc"
        MUSL = "musl"
        BIONIC = "bionic"
        UCLIBC = "uclibc"

        def __str__(self) -> str:
            return self.value

else:

    class _FamilyType(type):
        # The parts of enum.EnumMeta that users of a str enum reach for: Family("musl"),
        # Family["MUSL"], iteration, len, `in`, __members__.
        def __call__(cls, value):
            if type(value) is cls:
                return value
            try:
                return cls._by_value_[value]
            except (KeyError, TypeError):
                raise ValueError(f"{value!r} is not a valid {cls.__name__}") from None

        def __getitem__(cls, name):
            return cls.__members__[name]

        def __iter__(cls):
            return iter(cls._by_value_.values())

        def __reversed__(cls):
            return reversed(list(cls._by_value_.values()))

        def __len__(cls):
            return len(cls._by_value_)

        def __contains__(cls, value):
            return type(value) is cls or value in cls._by_value_

        @property
        def __members__(cls):
            return {member._name_: member for member in cls._by_value_.values()}

        def __repr__(cls):
            return f"<enum {cls.__name__!r}>"

    class Family(str, metaclass=_FamilyType):
        """A C library family. The value is the lower-case name used in JSON and in the CLI.

        Members: ``GLIBC``, ``MUSL``, ``BIONIC``, ``UCLIBC``. Each is a ``str`` equal to its
        value (``Family.MUSL == "musl"``), with ``.name`` and ``.value`` as in a str
        ``enum.Enum`` (which is what type checkers see); ``Family("musl")`` gives the
        member, and ``is`` compares members."""

        _by_value_: dict[str, Family] = {}  # noqa: RUF012

        @property
        def name(self):
            """The member's name (``"GLIBC"``)."""
            return self._name_

        @property
        def value(self):
            """The member's value (``"glibc"``), a plain str."""
            return str.__str__(self)

        def __str__(self):
            return str.__str__(self)

        def __repr__(self):
            return f"<{type(self).__name__}.{self._name_}: {str.__repr__(self)}>"

        def __hash__(self):
            return str.__hash__(self)

        def __reduce_ex__(self, protocol):
            return type(self), (str.__str__(self),)

        def __copy__(self):
            return self

        def __deepcopy__(self, memo):
            return self

    for _name, _value in (
        ("GLIBC", "glibc"),
        ("MUSL", "musl"),
        ("BIONIC", "bionic"),
        ("UCLIBC", "uclibc"),
    ):
        _member = str.__new__(Family, _value)
        _member._name_ = _name
        Family._by_value_[_value] = _member
        setattr(Family, _name, _member)
    del _name, _value, _member


def _parse_release(text: str) -> Optional[list[int]]:
    # The leading `major[.minor[.patch]]`, each 1 to 9 decimal digits (what the pattern
    # (\d{1,9})(?:\.(\d{1,9}))?(?:\.(\d{1,9}))? matched), without importing re.
    parts = text.split(".", 3)[:3]
    if all(part.isdecimal() and len(part) <= 9 for part in parts):  # "2.36": all of it
        return [int(part) for part in parts]
    numbers: list[int] = []
    pos = 0
    while len(numbers) < 3:
        start = pos + 1 if numbers else pos
        if numbers and text[pos : pos + 1] != ".":
            break
        end = start
        while end < len(text) and end - start < 9 and text[end].isdecimal():
            end += 1
        if end == start:
            break
        numbers.append(int(text[start:end]))
        pos = end
    return numbers or None


class LibcVersion:
    """A libc version: ordered, hashable, compares with tuples of ints.

    ``LibcVersion.parse("1.2.5-git-3-gabcdef")`` keeps the numbers ``(1, 2, 5)`` in
    ``release`` and the whole text in ``raw``; ``str()`` gives the canonical text
    (the numbers joined by dots). ``LibcVersion((1, 2)) == (1, 2)`` and ``>= (1, 1)`` work,
    so it can be used where ``packaging`` uses a ``(major, minor)`` tuple. For bionic the
    version is the Android API level, a single number.
    """

    __slots__ = ("raw", "release")

    release: tuple[int, ...]
    raw: str

    def __init__(self, release: Sequence[int], raw: Optional[str] = None) -> None:
        if not release or any(not isinstance(n, int) or n < 0 for n in release):
            raise ValueError(f"a version needs non-negative ints, got {release!r}")
        object.__setattr__(self, "release", tuple(release))
        object.__setattr__(self, "raw", raw if raw is not None else ".".join(map(str, release)))

    @classmethod
    def parse(cls, text: str) -> LibcVersion:
        """Parse ``"2.36"``, ``"1.2.3"``, ``"1.2.5-git-3-gabcdef"`` or ``"24"`` (a leading
        ``major[.minor[.patch]]`` and anything after it); ``ValueError`` otherwise."""
        numbers = _parse_release(text.strip())
        if numbers is None:
            raise ValueError(f"not a libc version: {text!r}")
        return cls(numbers, text.strip())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("LibcVersion is immutable")

    @property
    def major(self) -> int:
        """The first number."""
        return self.release[0]

    @property
    def minor(self) -> int:
        """The second number (0 when there is none)."""
        return self.release[1] if len(self.release) > 1 else 0

    def __str__(self) -> str:
        return ".".join(map(str, self.release))

    def __repr__(self) -> str:
        if self.raw != str(self):
            return f"LibcVersion({self.release!r}, raw={self.raw!r})"
        return f"LibcVersion({self.release!r})"

    def _key(self, other: object) -> Optional[tuple[int, ...]]:
        if isinstance(other, LibcVersion):
            return other.release
        if isinstance(other, tuple) and all(isinstance(n, int) for n in other):
            return other
        return None

    def __eq__(self, other: object) -> bool:
        key = self._key(other)
        return NotImplemented if key is None else _pad(self.release, key) == _pad(key, self.release)

    def __hash__(self) -> int:
        trimmed = list(self.release)
        while len(trimmed) > 1 and trimmed[-1] == 0:
            trimmed.pop()
        return hash(tuple(trimmed))

    def __lt__(self, other: object) -> bool:
        key = self._key(other)
        if key is None:
            return NotImplemented
        return _pad(self.release, key) < _pad(key, self.release)

    def __le__(self, other: object) -> bool:
        key = self._key(other)
        if key is None:
            return NotImplemented
        return _pad(self.release, key) <= _pad(key, self.release)

    def __gt__(self, other: object) -> bool:
        key = self._key(other)
        if key is None:
            return NotImplemented
        return _pad(self.release, key) > _pad(key, self.release)

    def __ge__(self, other: object) -> bool:
        key = self._key(other)
        if key is None:
            return NotImplemented
        return _pad(self.release, key) >= _pad(key, self.release)


def _pad(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    # (2, 36) == (2, 36, 0): compare as if the shorter one had trailing zeros.
    return a + (0,) * (len(b) - len(a))


class Evidence(NamedTuple):
    """Where one conclusion came from.

    ``fact`` is what it supports (``"family"``, ``"version"``, ``"linkage"``, ``"arch"``,
    ``"interpreter"``, ``"extensions"``), ``value`` the value it supports, ``source`` the kind
    of evidence (see below), ``path`` the file it was read from (or None) and ``detail`` a
    sentence for people.

    Sources: ``elf-header``, ``elf-interp`` (``PT_INTERP``), ``elf-needed`` (``DT_NEEDED``),
    ``elf-soname``, ``elf-verneed`` / ``elf-verdef`` (symbol versions), ``elf-note``
    (``PT_NOTE``), ``elf-entry`` (the code at ``e_entry``), ``string`` (a string in read-only
    data), ``confstr``, ``strerror`` (what the running libc says), ``proc-maps``
    (``/proc/self/maps``), ``proc-exe``, ``sysconfig`` (supporting only), ``env``
    (``LIBCPROBE_LIBC``), ``execute`` (output of the loader, only with ``allow_execute=True``),
    ``platform`` (``sys.platform`` and friends), ``file`` (the file's name or a file in a root).
    """

    fact: Fact
    value: str
    source: Source
    path: Optional[str]
    detail: str

    def to_dict(self) -> dict[str, Optional[str]]:
        """A JSON-ready dict with the five fields."""
        return {
            "fact": self.fact,
            "value": self.value,
            "source": self.source,
            "path": self.path,
            "detail": self.detail,
        }


class EvidenceLog:
    """The evidence of one answer as it is gathered, in order: one method a fact, so that
    ``log.family("musl", "string", path, "why")`` appends ``Evidence("family", "musl", "string",
    path, "why")``. ``source`` is a :data:`Source` and the value is made text with ``str()``,
    so a misspelt fact or source fails ``mypy --strict``. ``items`` is what
    :class:`LibcInfo` takes as its evidence. Internal: detection and the family rules use it."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[Evidence] = ()) -> None:
        self.items: list[Evidence] = list(items)

    def add(
        self,
        fact: Fact,
        value: Union[str, LibcVersion, int, None],
        source: Source,
        path: Optional[str],
        detail: str,
    ) -> None:
        """Append one :class:`Evidence` (``value`` as ``str(value)``)."""
        # _make is tuple.__new__ itself at run time: no Python frame per line of evidence.
        self.items.append(Evidence._make((fact, str(value), source, path, detail)))

    def family(self, value: str, source: Source, path: Optional[str], detail: str) -> None:
        """Evidence for the family (``value``: a family's name or ``"none"``)."""
        self.add("family", value, source, path, detail)

    def version(
        self, value: Union[str, LibcVersion, int], source: Source, path: Optional[str], detail: str
    ) -> None:
        """Evidence for the version (``value``: a version or ``"none"``)."""
        self.add("version", value, source, path, detail)

    def linkage(self, value: str, source: Source, path: Optional[str], detail: str) -> None:
        """Evidence for the linkage."""
        self.add("linkage", value, source, path, detail)

    def arch(self, value: Optional[str], source: Source, path: Optional[str], detail: str) -> None:
        """Evidence for the architecture."""
        self.add("arch", value, source, path, detail)

    def interpreter(self, value: str, source: Source, path: Optional[str], detail: str) -> None:
        """Evidence for the program or loader examined."""
        self.add("interpreter", value, source, path, detail)

    def extensions(self, value: str, source: Source, path: Optional[str], detail: str) -> None:
        """Evidence for whether extension modules can load."""
        self.add("extensions", value, source, path, detail)

    def extend(self, evidence: Iterable[Evidence]) -> None:
        """Append evidence gathered elsewhere (a :class:`Classification`'s, say)."""
        self.items.extend(evidence)

    def copy(self) -> EvidenceLog:
        """A log that starts with this one's evidence and grows on its own."""
        return EvidenceLog(self.items)


class LibcInfo:
    """What libcprobe concluded about the C library a program runs on. Immutable, hashable.

    Attributes:
        family: the :class:`Family`, or None when no libc was found (a static Go program,
            macOS, Windows, a file that is not ELF).
        version: the :class:`LibcVersion`, or None when it cannot be known (a static musl
            binary embeds no version).
        linkage: ``"dynamic"`` or ``"static"`` (None when there is no ELF program at all).
        arch: the wheel-tag architecture (``"x86_64"``, ``"aarch64"``, ``"armv7l"``, ...).
        interpreter: the ``PT_INTERP`` of the program as recorded in it, or None.
        library: the file the version was read from (the musl loader, ``libc.so.6``), or None.
        can_load_extensions: False when the program cannot load extension modules (a static
            interpreter: its ``dlopen`` is a stub), True when it can, None when unknown.
        executable: the program examined.
        root: the ``root=`` directory, or None.
        running: True when this describes the running interpreter (then ``packaging``'s
            ``_manylinux`` module override applies to its tags).
        evidence: a tuple of :class:`Evidence`, one or more per conclusion.
    """

    __slots__ = (
        "arch",
        "can_load_extensions",
        "evidence",
        "executable",
        "family",
        "interpreter",
        "library",
        "linkage",
        "root",
        "running",
        "version",
    )

    family: Optional[Family]
    version: Optional[LibcVersion]
    linkage: Optional[str]
    arch: Optional[str]
    interpreter: Optional[str]
    library: Optional[str]
    can_load_extensions: Optional[bool]
    executable: Optional[str]
    root: Optional[str]
    running: bool
    evidence: tuple[Evidence, ...]

    def __init__(
        self,
        *,
        family: Optional[Union[Family, str]],
        version: Optional[LibcVersion] = None,
        linkage: Optional[str] = None,
        arch: Optional[str] = None,
        interpreter: Optional[str] = None,
        library: Optional[str] = None,
        can_load_extensions: Optional[bool] = None,
        executable: Optional[str] = None,
        root: Optional[str] = None,
        running: bool = False,
        evidence: Sequence[Evidence] = (),
    ) -> None:
        if family is not None and type(family) is not Family:
            family = Family(family)  # a name: ValueError unless it is a family's
        # Straight object.__setattr__ calls (the class forbids setting attributes): no dict,
        # no loop, on the path every detect() takes once.
        put = object.__setattr__
        put(self, "family", family)
        put(self, "version", version)
        put(self, "linkage", linkage)
        put(self, "arch", arch)
        put(self, "interpreter", interpreter)
        put(self, "library", library)
        put(self, "can_load_extensions", can_load_extensions)
        put(self, "executable", executable)
        put(self, "root", root)
        put(self, "running", running)
        put(self, "evidence", tuple(evidence))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("LibcInfo is immutable")

    def _astuple(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LibcInfo):
            return NotImplemented
        return self._astuple() == other._astuple()

    def __hash__(self) -> int:
        return hash(self._astuple())

    def __repr__(self) -> str:
        return (
            f"LibcInfo(family={self.family!s}, version={self.version!s}, linkage={self.linkage},"
            f" arch={self.arch}, interpreter={self.interpreter!r})"
        )

    def why(self, fact: str) -> tuple[Evidence, ...]:
        """The evidence lines for one fact (``"family"``, ``"version"``, ...)."""
        return tuple(e for e in self.evidence if e.fact == fact)

    def platform_tags(self, *, linux_first: bool = True) -> list[str]:
        """The compatible wheel platform tags, most preferred first, as ``packaging.tags``
        would list them for this libc and architecture.

        ``linux_<arch>`` comes first, as in ``packaging`` 26.3 and later; pass
        ``linux_first=False`` for the order of ``packaging`` 26.2 and older (``linux_<arch>``
        last). Empty when nothing binary can load: no architecture known, or a static
        interpreter (see ``can_load_extensions``)."""
        tags = _platform_tags or _load_platform_tags()
        return tags(self, linux_first=linux_first)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: every attribute, the version as text (``version_raw`` keeps the
        raw text), the evidence as a list of dicts. The CLI's ``--json`` prints exactly this
        plus ``platform_tags``."""
        return {
            "family": self.family.value if self.family is not None else None,
            "version": str(self.version) if self.version is not None else None,
            "version_raw": self.version.raw if self.version is not None else None,
            "linkage": self.linkage,
            "arch": self.arch,
            "interpreter": self.interpreter,
            "library": self.library,
            "can_load_extensions": self.can_load_extensions,
            "executable": self.executable,
            "root": self.root,
            "running": self.running,
            "evidence": [e.to_dict() for e in self.evidence],
        }


#: :func:`._tags.platform_tags`, once loaded (an import statement on every call costs more
#: than the rest of the call on a musl CPython).
_platform_tags: Optional[Callable[..., list[str]]] = None


def _load_platform_tags() -> Callable[..., list[str]]:
    global _platform_tags
    from ._tags import platform_tags

    _platform_tags = platform_tags
    return platform_tags
