"""The one rlimit table, and the two ways a run gets it: in the child before exec, or by a prefix command."""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from dataclasses import dataclass

from ..contract import Limits

MB = 1024 * 1024
PRLIMIT = "/usr/bin/prlimit"


@dataclass(frozen=True)
class Rlimit:
    """One row: the limit as setrlimit, prlimit (--name) and bash's ulimit (flag, unit in bytes) know it."""

    name: str
    resource: int
    ulimit_flag: str
    ulimit_unit: int
    soft: int
    hard: int


def rlimit_table(limits: Limits) -> list[Rlimit]:
    """Every rlimit a run gets, whichever way it is applied: add a new one here."""
    return [
        Rlimit("cpu", resource.RLIMIT_CPU, "-t", 1, limits.cpu_s, limits.cpu_s + 1),  # soft: SIGXCPU, hard: KILL
        # RLIMIT_DATA, not RLIMIT_AS: it counts memory a process can write to (heap, private mappings), not
        # address space merely reserved, which V8, Go and the JVM take by gigabytes at start.
        Rlimit("data", resource.RLIMIT_DATA, "-d", 1024, limits.memory_mb * MB, limits.memory_mb * MB),
        Rlimit("fsize", resource.RLIMIT_FSIZE, "-f", 1024, limits.file_mb * MB, limits.file_mb * MB),
        Rlimit("nofile", resource.RLIMIT_NOFILE, "-n", 1, limits.open_files, limits.open_files),
        Rlimit("core", resource.RLIMIT_CORE, "-c", 1, 0, 0),
        Rlimit("nproc", resource.RLIMIT_NPROC, "-u", 1, limits.processes, limits.processes),
    ]


def rlimit_setter(limits: Limits, *, as_uid: int | None = None) -> Callable[[], None]:
    """A preexec_fn applying `limits` as rlimits in the child, then dropping to `as_uid` if given."""
    table = rlimit_table(limits)

    def apply() -> None:
        for row in table:
            resource.setrlimit(row.resource, (row.soft, row.hard))
        if as_uid is not None:
            os.setgroups([])
            os.setgid(as_uid)
            os.setuid(as_uid)

    return apply


def with_limits(command: list[str], limits: Limits) -> list[str]:
    """Prefix `command` so the rlimits are set by the first program it runs (inside a sandbox).

    Set inside the sandbox's user namespace, RLIMIT_NPROC counts only this run's processes (one user's
    fork bomb cannot starve another run), instead of every process of the host uid.
    """
    table = rlimit_table(limits)
    if os.access(PRLIMIT, os.X_OK):
        return [PRLIMIT, *(f"--{row.name}={row.soft}:{row.hard}" for row in table), "--", *command]
    sets = "; ".join(f"ulimit -S -H {row.ulimit_flag} {row.soft // row.ulimit_unit}" for row in table)
    return ["/bin/bash", "-c", f'{sets} && exec "$@"', "limit", *command]
