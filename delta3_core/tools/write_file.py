"""write_file: create or replace a text file in the workspace."""

from __future__ import annotations

from ..workspace import validate_path
from .base import ToolContext, ToolResult


def write_file(ctx: ToolContext, path: str, content: str) -> ToolResult:
    """Create or overwrite a text file in the workspace with the given content (folders are created as needed).

    Args:
        path: File path relative to the workspace root, e.g. "calculator.py" or "src/app.py".
        content: The complete new content of the file.
    """
    path = validate_path(path)
    with ctx.recorder.changing([path]):
        info = ctx.workspace.write_text(path, content)
    return ToolResult(True, f"Wrote {info.size} bytes to {info.path}.")
