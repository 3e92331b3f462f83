"""Executor contract: the limits a run gets, what it returns, its errors, and the protocol both executors follow.

Imports no sibling module: everything else in the package builds on this one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ExecutorError, SandboxUnavailableError, ValidationError

if TYPE_CHECKING:
    from delta3_core.config import Settings

__all__ = ["KINDS", "LIMIT_NAMES", "MAX_SOURCE_BYTES", "Executor", "ExecutorError", "Limits", "RunResult",
           "SandboxUnavailableError", "ValidationError", "check_request"]

KINDS = ("python", "shell")
MAX_SOURCE_BYTES = 100 * 1024  # code is passed as one argv string, which Linux caps at 128 KB

# limit_hit values, and the plain words used for each in messages.
LIMIT_NAMES = {
    "wall_time": "wall-clock time limit",
    "cpu_time": "CPU time limit",
    "memory": "memory limit",
    "processes": "process limit",
    "file_size": "file size limit",
    "disk": "workspace storage quota",
    "output": "output limit",
}


class PlainDict:
    """to_dict/from_dict for the Lambda event and result; unknown keys are ignored so versions can differ."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Inverse of to_dict."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class Limits(PlainDict):
    """Caps applied to one run; built from Settings so both executors enforce the same numbers."""

    wall_s: float = 30.0
    cpu_s: int = 30
    memory_mb: int = 512
    processes: int = 64
    file_mb: int = 50
    output_kb: int = 64
    open_files: int = 256
    disk_mb: int = 200
    network: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The limits configured in `settings` (DELTA3_RUN_* variables)."""
        return cls(
            wall_s=float(settings.run_wall_s),
            cpu_s=max(1, math.ceil(settings.run_wall_s)),  # CPU can never usefully exceed wall time
            memory_mb=int(settings.run_memory_mb),
            processes=int(settings.run_processes),
            file_mb=int(settings.run_file_mb),
            output_kb=int(settings.run_output_kb),
            disk_mb=int(settings.quota_mb),
            network=bool(settings.sandbox_network),
        )


@dataclass
class RunResult(PlainDict):
    """What a run did: its output, exit status, which limit stopped it, and what happened to files."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    duration_s: float = 0.0
    limit_hit: str | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    files_changed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    sync_failed: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when the code ran to completion with exit code 0 and nothing failed to sync."""
        return self.exit_code == 0 and self.limit_hit is None and not self.sync_failed

    def summary(self, max_chars: int = 8000) -> str:
        """A compact text report for the model, at most `max_chars` long."""
        head = [self.message or f"Exit code {self.exit_code}."]
        if self.files_changed:
            head.append("Files changed: " + ", ".join(self.files_changed[:50])
                        + (" ..." if len(self.files_changed) > 50 else ""))
        if self.skipped:
            head.append("Skipped (not synced): " + ", ".join(self.skipped[:20]))
        if self.sync_failed:
            head.append("NOT saved: " + ", ".join(self.sync_failed[:20]))
        text = "\n".join(head)
        budget = max(0, max_chars - len(text) - 40)
        # stderr usually holds the traceback the model needs; give it a fair share
        out_budget = budget // 2 if self.stderr else budget
        parts = [text]
        if self.stdout:
            parts.append("stdout:\n" + _clip(self.stdout, out_budget))
        if self.stderr:
            parts.append("stderr:\n" + _clip(self.stderr, budget - min(len(self.stdout), out_budget)))
        return "\n".join(parts)[:max_chars]


def _clip(text: str, budget: int) -> str:
    """Keep the start and the end (errors are at the end) of `text` within `budget` chars."""
    if len(text) <= budget:
        return text
    if budget < 40:
        return text[: max(budget, 0)]
    half = (budget - 30) // 2
    return text[:half] + "\n[... cut ...]\n" + text[-half:]


class Executor(Protocol):
    """Runs untrusted code in one user's workspace, within Limits."""

    def run(self, user_id: str, kind: str, source: str) -> RunResult:
        """Run `source` ('python' code or a 'shell' command) and report what happened."""


def check_request(kind: str, source: str) -> None:
    """Raise ValidationError for an unknown kind or oversized/invalid source."""
    if kind not in KINDS:
        raise ValidationError(f"Unknown run kind {kind!r}: use 'python' or 'shell'.")
    if not isinstance(source, str):
        raise ValidationError("The code to run must be text.")
    if "\x00" in source:
        raise ValidationError("The code to run contains a NUL character.")
    if len(source.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        raise ValidationError(f"The code to run is larger than {MAX_SOURCE_BYTES // 1024} KB.")

