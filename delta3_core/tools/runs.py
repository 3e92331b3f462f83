"""Turn an executor RunResult into the tool result the model reads."""

from __future__ import annotations

from typing import Any

from .base import ToolResult, images_in

MAX_RUN_REPORT = 8000  # characters of output the model sees per run


def run_code(ctx: Any, kind: str, source: str) -> ToolResult:
    """Run code through the executor, telling the turn's recorder which files the run changed."""
    with ctx.recorder.running() as run:
        result = ctx.services.executor.run(ctx.user_id, kind, source)
        run.paths = [p for p in result.files_changed if p not in result.sync_failed]
    return report(result)


def report(result: Any) -> ToolResult:
    """ok only when the run finished by itself with exit code 0; images are the pictures it wrote."""
    ok = result.exit_code == 0 and not result.limit_hit
    return ToolResult(ok, result.summary(MAX_RUN_REPORT), images_in(list(result.files_changed)))
