"""delete_file: remove a file or folder from the workspace."""

from __future__ import annotations

from ..workspace import validate_path
from .base import ToolContext, ToolResult


def delete_file(ctx: ToolContext, path: str) -> ToolResult:
    """Delete a file, or a folder with everything in it, from the workspace.

    Args:
        path: File or folder path relative to the workspace root.
    """
    path = validate_path(path)
    with ctx.recorder.changing([path], folders=True):
        ctx.workspace.delete(path)
    return ToolResult(True, f"Deleted {path}.")
