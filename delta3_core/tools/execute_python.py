"""execute_python: run Python code in the user's sandboxed workspace."""

from __future__ import annotations

from .base import ToolContext, ToolResult
from .runs import run_code


def execute_python(ctx: ToolContext, code: str) -> ToolResult:
    """Run Python 3 code in the workspace folder (a sandbox) and return its output.

    Files the code writes are saved in the workspace; write plots to image files (e.g. plt.savefig("plot.png")).
    numpy, pandas, scipy, sympy, matplotlib, requests, pillow, bs4, openpyxl and lxml are installed; packages
    added with `pip install` (execute_shell) are importable too.

    Args:
        code: The Python source to run, as a complete program; print what you want to see.
    """
    return run_code(ctx, "python", code)
