"""Memory of a whole run: RLIMIT_AS caps each process alone, so the watchdog sums the run's process tree."""

from __future__ import annotations

import os

PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_memory_bytes(root_pid: int) -> int:
    """Resident memory of `root_pid` and every process below it (shared pages split between sharers)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            parent = _parent_of(name)
            if parent is not None:
                children.setdefault(parent, []).append(int(name))
    total, stack, seen = 0, [root_pid], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _process_bytes(pid)
        stack.extend(children.get(pid, ()))
    return total


def _parent_of(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return int(handle.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _process_bytes(pid: int) -> int:
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
