"""Executors run the model's untrusted code: `make_executor(settings, backend)` picks one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Executor, Limits, RunResult, sandbox_status

__all__ = ["Executor", "Limits", "RunResult", "make_executor", "sandbox_status"]


def make_executor(settings: Any, backend: Any, invoke: Callable[[dict], dict] | None = None) -> Executor:
    """The executor chosen by DELTA3_EXECUTOR; `invoke` replaces the Lambda call (tests run the handler in-process)."""
    if settings.executor == "lambda" or invoke is not None:
        from .lambda_client import LambdaExecutor

        return LambdaExecutor(settings, backend, invoke=invoke)
    from .local import LocalExecutor

    return LocalExecutor(settings, backend)
