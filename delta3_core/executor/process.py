"""Run one child process under rlimits with a wall clock, capped output and a workspace-size watchdog."""

from __future__ import annotations

import contextlib
import os
import resource
import selectors
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .base import LIMIT_NAMES, Limits, RunResult
from .memory import tree_memory_bytes
from .scan import MAX_DEPTH, walk

MB = 1024 * 1024
FLOOD_FACTOR = 100  # output beyond 100x the kept amount is a runaway loop: stop it
DISK_POLL_S = 0.25
MEMORY_POLL_S = 0.1  # a run can allocate ~1 GB/s per core: check often enough to stop it well before the host
ENTRY_BYTES = 4096  # the least any file, folder or link costs against the quota (one block, one inode)
STRAY_GRACE_S = 0.5  # after the main process exits, how long a silent leftover child may hold the pipes


@dataclass
class Outcome:
    """Raw facts about a finished child process, before they are turned into a RunResult."""

    stdout: bytes = b""
    stderr: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    returncode: int | None = None
    duration_s: float = 0.0
    stopped_for: str | None = None  # 'wall_time', 'output' or 'disk' when we killed it
    notes: list[str] = field(default_factory=list)


def rlimit_setter(limits: Limits, *, as_uid: int | None = None):
    """A preexec_fn applying `limits` as rlimits in the child, then dropping to `as_uid` if given."""
    caps = [
        (resource.RLIMIT_CPU, limits.cpu_s, limits.cpu_s + 1),  # soft: SIGXCPU, hard: SIGKILL
        (resource.RLIMIT_AS, limits.memory_mb * MB, limits.memory_mb * MB),
        (resource.RLIMIT_FSIZE, limits.file_mb * MB, limits.file_mb * MB),
        (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NPROC, limits.processes, limits.processes),
    ]

    def apply() -> None:
        for which, soft, hard in caps:
            resource.setrlimit(which, (soft, hard))
        if as_uid is not None:
            os.setgroups([])
            os.setgid(as_uid)
            os.setuid(as_uid)

    return apply


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
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def kill_group(pgid: int) -> None:
    """SIGKILL a whole process group; quiet if it is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def decode(data: bytes, truncated: bool, limit_kb: int) -> str:
    """Bytes to text (invalid UTF-8 replaced), with a visible marker when output was cut."""
    text = data.decode("utf-8", errors="replace")
    if truncated:
        text += f"\n[output truncated: only the first {limit_kb} KB was kept]"
    return text


# Signals the kernel sends for a limit, and text a program prints when an rlimit stops it.
_SIGNAL_LIMITS = {signal.SIGXCPU: "cpu_time", signal.SIGXFSZ: "file_size"}
_STDERR_HINTS = (
    ("memory", ("MemoryError", "Cannot allocate memory", "out of memory", "bad_alloc")),
    ("file_size", ("File too large", "EFBIG")),
    ("processes", ("Resource temporarily unavailable", "fork: retry", "Cannot fork", "can't fork")),
)


def _signal_of(returncode: int | None) -> int | None:
    if returncode is None:
        return None
    if returncode < 0:
        return -returncode
    if returncode > 128 and returncode - 128 in signal.valid_signals():  # how shells and bwrap report it
        return returncode - 128
    return None


def classify(outcome: Outcome, limits: Limits) -> tuple[str | None, str]:
    """Which limit (if any) ended the run, and a plain sentence saying what happened.

    Output that was only cut (the run went on and finished) is no limit hit: the truncation flags and
    the message say so instead.
    """
    sig = _signal_of(outcome.returncode)
    limit = outcome.stopped_for or _SIGNAL_LIMITS.get(sig)
    if limit is None and outcome.returncode not in (0, None):
        tail = outcome.stderr[-4096:].decode("utf-8", "replace")
        limit = next((name for name, hints in _STDERR_HINTS if any(h in tail for h in hints)), None)
    return limit, _message(limit, outcome, limits, sig)


def _message(limit: str | None, outcome: Outcome, limits: Limits, sig: int | None) -> str:
    cut = outcome.stdout_truncated or outcome.stderr_truncated
    if limit == "wall_time":
        return f"Stopped: the run took longer than the {limits.wall_s:g}-second time limit."
    if limit == "cpu_time":
        return f"Stopped: the run used more than {limits.cpu_s} seconds of CPU time."
    if limit == "memory":
        return f"The run ran out of memory: it may use at most {limits.memory_mb} MB."
    if limit == "processes":
        return f"The run tried to start too many processes: at most {limits.processes} may run at once."
    if limit == "file_size":
        return f"A file grew past the {limits.file_mb} MB per-file limit, so writing it failed."
    if limit == "disk":
        return (f"Stopped: the workspace grew past its {limits.disk_mb} MB storage quota; "
                "delete some files to free space.")
    if limit == "output":
        return (f"Stopped: the run printed far too much output (over {limits.output_kb * FLOOD_FACTOR:,} KB); "
                f"only the first {limits.output_kb} KB of each stream was kept.")
    suffix = f" Output was cut to the first {limits.output_kb} KB per stream." if cut else ""
    if sig is not None:
        return f"The run was killed by signal {signal.Signals(sig).name}.{suffix}"
    if outcome.returncode == 0:
        return "Finished successfully (exit code 0)." + suffix
    return f"Failed with exit code {outcome.returncode}." + suffix


def to_result(outcome: Outcome, limits: Limits) -> RunResult:
    """Turn an Outcome into the RunResult a caller sees (file sync fields are filled in later)."""
    limit, message = classify(outcome, limits)
    assert limit is None or limit in LIMIT_NAMES
    return RunResult(
        stdout=decode(outcome.stdout, outcome.stdout_truncated, limits.output_kb),
        stderr=decode(outcome.stderr, outcome.stderr_truncated, limits.output_kb),
        exit_code=outcome.returncode, duration_s=round(outcome.duration_s, 3), limit_hit=limit,
        stdout_truncated=outcome.stdout_truncated, stderr_truncated=outcome.stderr_truncated,
        message=message,
    )
