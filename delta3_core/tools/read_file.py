"""read_file: show a text file from the workspace."""

from __future__ import annotations

from .base import ToolContext, ToolResult


def read_file(ctx: ToolContext, path: str) -> ToolResult:
    """Read a text file from the workspace and return its whole content.

    Args:
        path: File path relative to the workspace root.
    """
    text = ctx.workspace.read_text(path)
    return ToolResult(True, text if text else f"{path} is empty.")
