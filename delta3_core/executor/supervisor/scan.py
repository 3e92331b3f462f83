"""Walk a workspace folder without following links: its regular files, what to skip, what it costs."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from ...storage.nofollow import MAX_DEPTH, open_folder, walk

ENTRY_BYTES = 4096  # the least any file, folder or link costs against the quota (one block, one inode)
DEEP_NOTE = f"folder nested over {MAX_DEPTH} levels deep, not looked into"
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
    for rel_dir, _fd, entries in walk(root):
        for name, info in entries:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            mode = info.st_mode
            if stat.S_ISDIR(mode):
                if rel.count("/") + 1 >= MAX_DEPTH:
                    skipped.append(f"{rel} ({DEEP_NOTE})")
            elif stat.S_ISREG(mode):
                files[rel] = Stat(info.st_size, info.st_mtime_ns)
            else:
                kind = next((label for test, label in SPECIAL_KINDS if test(mode)), "special file")
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
        folder, _, name = rel.rpartition("/")
        with contextlib.suppress(OSError):
            fd = open_folder(root, folder)
            try:
                os.unlink(name, dir_fd=fd)  # never through a folder swapped for a link since the scan
            finally:
                os.close(fd)


def workspace_bytes(root: Path) -> int:
    """What the workspace under `root` costs against the quota, not following symlinks.

    A file counts at its full size even when sparse (it syncs and exports at that size), and every entry
    counts at least ENTRY_BYTES, so millions of empty files cannot exhaust the host's inodes for free.
    A folder nested too deeply to be walked counts as over any quota (it could hide anything).
    """
    total = 0
    for rel_dir, _fd, entries in walk(root):
        depth = rel_dir.count("/") + 1 if rel_dir else 0
        for _name, info in entries:
            if stat.S_ISDIR(info.st_mode) and depth + 1 >= MAX_DEPTH:
                return sys.maxsize
            total += max(info.st_size, info.st_blocks * 512, ENTRY_BYTES)
    return total
