"""Reading /proc: process ids, parents, states, owners, environments and memory (the only parser of /proc)."""

from __future__ import annotations

import os

PAGE = os.sysconf("SC_PAGE_SIZE")


def pids() -> list[int]:
    """Every process id visible in /proc."""
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _stat_fields(pid: int | str) -> list[bytes] | None:
    """Fields of /proc/<pid>/stat after the command name (which may itself hold spaces and ')')."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def parent_of(pid: int | str) -> int | None:
    """The parent's pid, or None if the process is gone."""
    fields = _stat_fields(pid)
    try:
        return int(fields[1]) if fields else None
    except (ValueError, IndexError):
        return None


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] not in (b"Z", b"X")


def ancestors(pid: int) -> set[int]:
    """`pid`, its parent, that one's parent, ... up to and including 1."""
    chain = {pid, 1}
    while pid > 1:
        parent = parent_of(pid)
        if parent is None:
            break
        pid = parent
        chain.add(pid)
    return chain


def has_environ_entry(pid: int, entry: str) -> bool:
    """True if the process's environment holds exactly `entry` ("NAME=value")."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return entry.encode() in handle.read().split(b"\0")
    except OSError:
        return False


def owner_uid(pid: int) -> int | None:
    """The uid that owns the process, or None if it is gone."""
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def tree_memory_bytes(root_pid: int) -> int:
    """Memory of `root_pid` and every process below it (shared pages split between sharers).

    RLIMIT_DATA caps each process alone, so the watchdog sums the run's whole process tree.
    """
    children: dict[int, list[int]] = {}
    for pid in pids():
        parent = parent_of(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    total, stack, seen = 0, [root_pid], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += process_bytes(pid)
        stack.extend(children.get(pid, ()))
    return total


def process_bytes(pid: int) -> int:
    """Proportional set size (a forked child's shared pages are not counted twice), else resident size."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0
