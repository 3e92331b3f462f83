"""execute_shell: run a shell command in the user's sandboxed workspace."""

from __future__ import annotations

from .base import ToolContext, ToolResult
from .runs import run_code


def execute_shell(ctx: ToolContext, command: str) -> ToolResult:
    """Run a shell command (bash) in the workspace folder (a sandbox) and return its output.

    node and npm are available; `pip install <pkg>` and `npm install -g <pkg>` keep packages for later runs.

    Args:
        command: The command line to run, e.g. "python -m pytest -q" or "ls -la".
    """
    return run_code(ctx, "shell", command)
