"""Walk a folder tree by file descriptor, never following a symlink (the one walk the workspace code uses)."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_DEPTH = 64  # folders this deep are listed in their parent but not entered


def open_folder(root: Path, rel_dir: str) -> int:
    """A descriptor for folder `rel_dir` under `root`, no component followed if it is a link."""
    fd = os.open(root, DIR_FLAGS)
    for part in rel_dir.split("/") if rel_dir else ():
        try:
            child = os.open(part, DIR_FLAGS, dir_fd=fd)
        finally:
            os.close(fd)
        fd = child
    return fd


def walk(root: Path) -> Iterator[tuple[str, int, list[tuple[str, os.stat_result]]]]:
    """Yield (relative folder, its descriptor, [(name, lstat)]) for every folder under `root`.

    Each folder is opened one component at a time with O_NOFOLLOW: a run (or a concurrent run of the same
    user) may swap a folder for a link to a host folder at any moment, and we act as root on what we find.
    Folders MAX_DEPTH deep are listed in their parent but not entered. As with os.walk, a caller may
    remove entries from the yielded list to keep the walk out of them.
    """
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            fd = open_folder(root, rel_dir)
        except OSError:
            continue  # replaced or removed meanwhile
        try:
            entries = []
            with os.scandir(fd) as listing:
                for entry in listing:
                    with contextlib.suppress(OSError):
                        entries.append((entry.name, entry.stat(follow_symlinks=False)))
            yield rel_dir, fd, entries
        finally:
            os.close(fd)
        stack += [f"{rel_dir}/{name}" if rel_dir else name for name, info in entries
                  if stat.S_ISDIR(info.st_mode) and (rel_dir.count("/") + 2 if rel_dir else 1) < MAX_DEPTH]
