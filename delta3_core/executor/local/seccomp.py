"""A small seccomp filter for the sandbox: refuse what the limits cannot see and what escapes abuse.

memfd_create files and System V shared memory segments live outside any process's address space, so
neither RLIMIT_DATA nor the run's memory watchdog sees them: without this a run could hold gigabytes
through them. io_uring, userfaultfd, bpf, perf events and the kernel keyring are rarely needed by
scripts and are behind most kernel exploits (Docker's default profile refuses them too).
Written as classic BPF by hand (bwrap --seccomp takes the compiled program).
"""

from __future__ import annotations

import errno
import os
import platform
import struct

_LD_ABS, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06
_ALLOW, _ERRNO, _KILL = 0x7FFF0000, 0x00050000, 0x80000000
_X32_BIT = 0x40000000
# machine: (AUDIT_ARCH_*, {syscall: number}, has an x32 ABI that must be refused too)
_ARCHES = {
    "x86_64": (0xC000003E, {"shmget": 29, "memfd_create": 319, "io_uring_setup": 425, "io_uring_enter": 426,
                            "io_uring_register": 427, "userfaultfd": 323, "bpf": 321, "perf_event_open": 298,
                            "keyctl": 250, "add_key": 248, "request_key": 249}, True),
    "aarch64": (0xC00000B7, {"shmget": 194, "memfd_create": 279, "io_uring_setup": 425, "io_uring_enter": 426,
                             "io_uring_register": 427, "userfaultfd": 282, "bpf": 280, "perf_event_open": 241,
                             "keyctl": 219, "add_key": 217, "request_key": 218}, False),
}


def sandbox_filter(machine: str | None = None) -> bytes | None:
    """The compiled filter for this machine, or None where its syscall numbers are not known."""
    arch = _ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    audit_arch, numbers, x32 = arch
    # another ABI (32-bit calls) would use other numbers: kill rather than let it through unchecked
    program = [(_LD_ABS, 0, 0, 4), (_JEQ, 1, 0, audit_arch), (_RET, 0, 0, _KILL), (_LD_ABS, 0, 0, 0)]
    checks = ([(_JGE, _X32_BIT)] if x32 else []) + [(_JEQ, nr) for nr in numbers.values()]
    for i, (op, value) in enumerate(checks):
        program.append((op, len(checks) - i, 0, value))  # jump over the rest and the allow, to the refusal
    program += [(_RET, 0, 0, _ALLOW), (_RET, 0, 0, _ERRNO | errno.EPERM)]
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in program)


def filter_fd() -> int | None:
    """A readable fd holding the filter (for bwrap --seccomp), or None; the caller closes it."""
    program = sandbox_filter()
    if program is None:
        return None
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, program)  # far below a pipe's buffer: never blocks
    finally:
        os.close(write_end)
    return read_end
