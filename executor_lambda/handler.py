"""Executor Lambda entry point: the event and result are documented in README.md beside this file."""

from __future__ import annotations

from typing import Any

from delta3_core.executor.aws_lambda.worker import execute_event, harden_process

harden_process()  # before any event: the code we run must not read this process's memory or environ


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Run the event's code for its user; domain errors come back as {"ok": false, ...}, never raised."""
    return execute_event(event)
