"""Walk a workspace folder without following links: regular files, and everything else to skip."""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

SPECIAL_KINDS = ((stat.S_ISLNK, "symlink"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
                 (stat.S_ISCHR, "device"), (stat.S_ISBLK, "device"))


@dataclass(frozen=True)
class Stat:
    """Size and modification time of one regular file (enough to notice a change cheaply)."""

    size: int
    mtime_ns: int


@dataclass
class Scan:
    """Regular files by relative posix path, plus notes on what was skipped."""

    files: dict[str, Stat]
    skipped: list[str]  # "path (symlink)" and the like
    special_paths: list[str]  # the paths alone, to remove them


def scan(root: Path) -> Scan:
    """List regular files under `root`; symlinks, FIFOs, sockets and devices are reported, never followed."""
    files: dict[str, Stat] = {}
    skipped: list[str] = []
    specials: list[str] = []
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            entries = list(os.scandir(root / rel_dir if rel_dir else root))
        except OSError:
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            mode = info.st_mode
            if stat.S_ISDIR(mode):
                stack.append(rel)
            elif stat.S_ISREG(mode):
                files[rel] = Stat(info.st_size, info.st_mtime_ns)
            else:
                kind = next((name for test, name in SPECIAL_KINDS if test(mode)), "special file")
                skipped.append(f"{rel} ({kind})")
                specials.append(rel)
    return Scan(files, sorted(skipped), sorted(specials))


def changed_paths(before: dict[str, Stat], after: dict[str, Stat]) -> list[str]:
    """Paths added, modified or deleted between two scans (deleted ones too: the user notices those)."""
    changed = {path for path, info in after.items() if before.get(path) != info}
    changed |= set(before) - set(after)
    return sorted(changed)


def remove_specials(root: Path, paths: list[str]) -> None:
    """Delete symlinks and special files so nothing outside the sandbox ever follows them."""
    for rel in paths:
        with contextlib.suppress(OSError):
            os.unlink(root / rel)
