"""Executors run the model's untrusted code; this is the one place that knows both modes.

contract.py   what a run gets and returns (imports no sibling)
supervisor/   host side: processes, /proc, rlimits, the run environment, outcome messages, uids, folder scans
local/        DELTA3_EXECUTOR=local: the bubblewrap sandbox, its zygotes and admission slots
sync/         a run against an S3 workspace: restore into a cached folder, run, push back
aws_lambda/   DELTA3_EXECUTOR=lambda: event protocol, client, per-user credentials, the worker in the Lambda
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .contract import Executor, Limits, RunResult

if TYPE_CHECKING:
    from delta3_core.config import Settings
    from delta3_core.storage.base import Backend

__all__ = ["Executor", "Limits", "RunResult", "make_executor", "sandbox_status"]


def make_executor(settings: Settings, backend: Backend, invoke: Callable[[dict], dict] | None = None) -> Executor:
    """The executor chosen by DELTA3_EXECUTOR; `invoke` replaces the Lambda call (tests run the handler in-process)."""
    if settings.executor == "lambda" or invoke is not None:
        from .aws_lambda.client import LambdaExecutor

        return LambdaExecutor(settings, backend, invoke=invoke)
    from .local.executor import LocalExecutor

    return LocalExecutor(settings, backend)


def sandbox_status(settings: Settings) -> str:
    """Plain text: whether code can run safely here, or what is missing and how to fix it."""
    if getattr(settings, "executor", "local") == "lambda":
        return f"ok: code runs in the executor Lambda {settings.executor_function}."
    from .local.probe import check_sandbox

    return check_sandbox(settings).text
