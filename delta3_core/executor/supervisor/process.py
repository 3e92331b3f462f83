"""Run one child process under rlimits with a wall clock, capped output and a workspace-size watchdog."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

from ..contract import Limits
from .outcome import FLOOD_FACTOR, Outcome
from .procfs import alive, tree_memory_bytes
from .rlimits import MB, rlimit_setter
from .scan import workspace_bytes

DISK_POLL_S = 0.25
MEMORY_POLL_S = 0.1  # a run can allocate ~1 GB/s per core: check often enough to stop it well before the host
STRAY_GRACE_S = 0.5  # after the main process exits, how long a silent leftover child may hold the pipes


def start(argv: list[str], *, env: dict[str, str], cwd: str, limits: Limits, limits_inside: bool = False,
          as_uid: int | None = None, pass_fds: tuple[int, ...] = (), stdin_pipe: bool = False) -> subprocess.Popen:
    """Start `argv` in its own session and process group, dropped to `as_uid` if given.

    limits_inside=True means the command applies the rlimits itself (the sandbox does, inside its user
    namespace); then no preexec_fn is needed and Python can spawn with the faster vfork.
    """
    extra: dict = {"user": as_uid, "group": as_uid, "extra_groups": []} if as_uid is not None else {}
    if not limits_inside:
        extra = {"preexec_fn": rlimit_setter(limits, as_uid=as_uid)}
    return subprocess.Popen(
        argv, stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env,
        start_new_session=True, close_fds=True, pass_fds=pass_fds, **extra,
    )


def collect(proc: subprocess.Popen, limits: Limits, watch_dir: Path | None = None,
            started: float | None = None) -> Outcome:
    """Read the capped output of a started process until it ends or a limit stops it; then kill its group."""
    started = time.monotonic() if started is None else started
    outcome = Outcome()
    try:
        _pump(proc, outcome, limits, watch_dir, started)
    finally:
        kill_group(proc.pid)
        outcome.returncode = proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            pipe.close()
    outcome.duration_s = time.monotonic() - started
    return outcome


def supervise(argv: list[str], *, env: dict[str, str], cwd: str, limits: Limits,
              watch_dir: Path | None = None, **launch) -> Outcome:
    """Start `argv` under `limits` (see start()), and collect its capped output."""
    started = time.monotonic()
    return collect(start(argv, env=env, cwd=cwd, limits=limits, **launch), limits, watch_dir, started)


def _pump(proc: subprocess.Popen, outcome: Outcome, limits: Limits, watch_dir: Path | None,
          started: float) -> None:
    keep = limits.output_kb * 1024
    flood = keep * FLOOD_FACTOR
    buffers = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    seen = dict.fromkeys(buffers, 0)
    sel = selectors.DefaultSelector()
    for pipe in (proc.stdout, proc.stderr):
        os.set_blocking(pipe.fileno(), False)
        sel.register(pipe.fileno(), selectors.EVENT_READ)
    deadline = started + limits.wall_s
    next_disk_check = started + DISK_POLL_S
    next_memory_check = started + MEMORY_POLL_S
    exited_at: float | None = None
    try:
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                outcome.stopped_for = "wall_time"
                return
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > STRAY_GRACE_S:
                return  # a leftover background child holds the pipes; it is killed with the group
            if watch_dir is not None and now >= next_disk_check:
                next_disk_check = now + DISK_POLL_S
                if workspace_bytes(watch_dir) > limits.disk_mb * MB:
                    outcome.stopped_for = "disk"
                    return
            if now >= next_memory_check:
                next_memory_check = now + MEMORY_POLL_S
                if tree_memory_bytes(proc.pid) > limits.memory_mb * MB:
                    outcome.stopped_for = "memory"
                    return
            timeout = min(deadline - now, MEMORY_POLL_S)
            for key, _ in sel.select(max(timeout, 0.01)):
                fd = key.fd
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(fd)
                    continue
                if exited_at is not None:
                    exited_at = time.monotonic()  # still draining what was written before the exit
                seen[fd] += len(chunk)
                room = keep - len(buffers[fd])
                if room > 0:
                    buffers[fd] += chunk[:room]
                if seen[fd] > flood:
                    outcome.stopped_for = "output"
                    return
    finally:
        sel.close()
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        outcome.stdout, outcome.stderr = bytes(buffers[out_fd]), bytes(buffers[err_fd])
        outcome.stdout_truncated = seen[out_fd] > keep
        outcome.stderr_truncated = seen[err_fd] > keep


def wait_gone(pid: int, timeout_s: float = 3.0) -> bool:
    """Wait until process `pid` has exited (a zombie counts: a pid namespace's init is one only after
    the kernel has killed and reaped everything else in its namespace)."""
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def kill_group(pgid: int) -> None:
    """SIGKILL a whole process group; quiet if it is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
