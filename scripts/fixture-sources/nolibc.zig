// nolibc.zig -- a zig program that links no C library (zig's own _start and system calls),
// for scripts/make-static-fixtures: musl's _start fingerprint must not match it.
const std = @import("std");

pub fn main() void {
    _ = std.os.linux.write(1, "hello\n", 6);
}
