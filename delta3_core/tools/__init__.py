"""The tools the model can call: one module each, declared from their signatures, run safely."""

from __future__ import annotations

import logging
from typing import Any

from google.genai import types

from ..errors import Delta3Error
from .base import Tool, ToolContext, ToolResult, make_tool
from .delete_file import delete_file
from .execute_python import execute_python
from .execute_shell import execute_shell
from .list_files import list_files
from .read_file import read_file
from .write_file import write_file

__all__ = ["TOOLS", "Tool", "ToolContext", "ToolResult", "declarations", "run_tool"]

log = logging.getLogger(__name__)

TOOLS: dict[str, Tool] = {tool.name: tool for tool in map(make_tool, [
    execute_python, execute_shell, write_file, read_file, list_files, delete_file])}


def declarations() -> list[types.FunctionDeclaration]:
    """The function declarations to offer the model."""
    return [tool.declaration for tool in TOOLS.values()]


def run_tool(ctx: ToolContext, name: str, args: Any) -> ToolResult:
    """Run one tool call; every failure becomes a readable result for the model, never an exception."""
    tool = TOOLS.get(name)
    if tool is None:
        return ToolResult(False, f"There is no tool named {name!r}; the tools are {', '.join(TOOLS)}.")
    problem = _check_args(tool, args)
    if problem:
        return ToolResult(False, problem)
    try:
        result = tool.function(ctx, **args)
    except Delta3Error as exc:  # bad path, missing file, quota, sandbox missing: the message says what to do
        return ToolResult(False, str(exc))
    except Exception:
        log.exception("tool %s failed", name)
        return ToolResult(False, f"The {name} tool failed unexpectedly (an internal error); "
                                 "try again or try another way.")
    return result if isinstance(result, ToolResult) else ToolResult(True, str(result))


def _check_args(tool: Tool, args: Any) -> str | None:
    """A sentence naming what is wrong with the arguments, or None when they fit the signature."""
    expected = ", ".join(tool.params) or "no arguments"
    if not isinstance(args, dict):
        return f"The arguments of {tool.name} must be an object with: {expected}."
    unknown = [k for k in args if k not in tool.params]
    if unknown:
        return f"{tool.name} has no argument {unknown[0]!r}; it takes: {expected}."
    for name, param in tool.params.items():
        if name not in args:
            if param.default is param.empty:
                return f"{tool.name} needs the argument {name!r} (it takes: {expected})."
            continue
        wanted = tool.hints[name]
        if not isinstance(args[name], wanted) or (wanted is not bool and isinstance(args[name], bool)):
            return f"The argument {name!r} of {tool.name} must be {_kind(wanted)}."
    return None


def _kind(kind: type) -> str:
    return {str: "text", int: "a whole number", float: "a number", bool: "true or false"}.get(kind, kind.__name__)
