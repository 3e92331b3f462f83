"""list_files: list what is in the workspace, or in one folder of it."""

from __future__ import annotations

from ..errors import NotFoundError
from ..workspace import validate_path
from .base import ToolContext, ToolResult

MAX_ENTRIES = 500  # enough to orient the model without flooding its context


def list_files(ctx: ToolContext, path: str = ".") -> ToolResult:
    """List the files and folders in the workspace (recursively), with their sizes in bytes.

    Args:
        path: Folder to list, relative to the workspace root; "." for everything.
    """
    folder = validate_path(path, allow_root=True)
    entries = ctx.workspace.list()
    if folder != ".":
        entries = [e for e in entries if e.path == folder or e.path.startswith(folder + "/")]
        if not entries:
            raise NotFoundError(f"There is no file or folder named {folder} in the workspace.")
    if not entries:
        return ToolResult(True, "The workspace is empty.")
    lines = [f"{e.path}/" if e.is_dir else f"{e.path} ({e.size} bytes)" for e in entries[:MAX_ENTRIES]]
    if len(entries) > MAX_ENTRIES:
        lines.append(f"... and {len(entries) - MAX_ENTRIES} more; list a folder to see them.")
    return ToolResult(True, "\n".join(lines))
