"""A cgroup v2 memory limit per run, where this host delegates one to the app (else the tree watch alone).

The kernel then caps what the whole run really uses (resident memory and tmpfs pages of every process)
and kills it at the limit. It needs a cgroup v2 hierarchy with the memory controller that the app may
write to: e.g. a systemd service with `Delegate=yes`, or a container given its own cgroup namespace.
Following the rule that a cgroup with child controllers holds no processes itself, the app moves itself
into a leaf `app` beside the runs' cgroups, as systemd recommends for delegated units.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from pathlib import Path

MOUNTINFO = "/proc/self/mountinfo"
SELF_CGROUP = "/proc/self/cgroup"


def own_cgroup(mountinfo: str = MOUNTINFO, self_cgroup: str = SELF_CGROUP) -> Path | None:
    """This process's cgroup v2 folder, or None when there is no v2 hierarchy (or only a hybrid one)."""
    try:
        relative = next(line.split("::", 1)[1].strip() for line in Path(self_cgroup).read_text().splitlines()
                        if line.startswith("0::"))
        mount = next(line.split(" - ", 1)[0].split()[4] for line in Path(mountinfo).read_text().splitlines()
                     if line.split(" - ", 1)[-1].startswith("cgroup2 "))
    except (OSError, StopIteration, IndexError):
        return None
    return Path(mount) / relative.lstrip("/")


class RunCgroups:
    """Makes one memory-limited cgroup per run under a delegated parent; `available` says if it can."""

    def __init__(self, parent: Path | None):
        self.parent = parent
        self._ready: bool | None = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """True once the parent is set up for runs (checked once; False means: watch only)."""
        with self._lock:
            if self._ready is None:
                self._ready = self.parent is not None and self._prepare(self.parent)
            return self._ready

    def _prepare(self, parent: Path) -> bool:
        try:
            if "memory" not in (parent / "cgroup.controllers").read_text().split():
                return False
            if "memory" not in (parent / "cgroup.subtree_control").read_text().split():
                leaf = parent / "app"
                leaf.mkdir(exist_ok=True)
                for pid in (parent / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError):  # a process may have exited meanwhile
                        (leaf / "cgroup.procs").write_text(pid)
                (parent / "cgroup.subtree_control").write_text("+memory")
            return True
        except OSError:
            return False

    def create(self, memory_mb: int) -> Path | None:
        """A fresh cgroup capped at `memory_mb` (no swap; the whole run is killed together), or None."""
        if not self.available:
            return None
        group = self.parent / f"delta3-run-{uuid.uuid4().hex[:12]}"
        try:
            group.mkdir()
            (group / "memory.max").write_text(str(memory_mb * 1024 * 1024))
            for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
                with contextlib.suppress(OSError):  # absent without swap accounting / on old kernels
                    (group / name).write_text(value)
        except OSError:
            remove(group)
            return None
        return group


def enter(group: Path, pid: int) -> bool:
    """Move process `pid` (and so everything it starts from now on) into `group`."""
    try:
        (group / "cgroup.procs").write_text(str(pid))
        return True
    except OSError:
        return False


def hit_limit(group: Path) -> bool:
    """True when the kernel stopped something in `group` for memory (an OOM kill at memory.max)."""
    try:
        events = dict(line.split() for line in (group / "memory.events").read_text().splitlines() if line)
    except (OSError, ValueError):
        return False
    return int(events.get("oom_kill", 0)) > 0 or int(events.get("oom_group_kill", 0)) > 0


def remove(group: Path) -> None:
    """Delete the run's cgroup once its processes are gone (a leftover is killed first)."""
    with contextlib.suppress(OSError):
        (group / "cgroup.kill").write_text("1")
    for _ in range(50):  # the kill is asynchronous: the folder goes once the last process has
        try:
            os.rmdir(group)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


RUN_CGROUPS = RunCgroups(own_cgroup())
