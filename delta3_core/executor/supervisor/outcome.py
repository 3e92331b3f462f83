"""What a finished run did, in words: which limit stopped it, and the RunResult a caller sees."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field

from ..contract import LIMIT_NAMES, Limits, RunResult

FLOOD_FACTOR = 100  # output beyond 100x the kept amount is a runaway loop: the supervisor stops it


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
