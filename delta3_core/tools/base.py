"""What every tool shares: its context, its result, and a declaration derived from its signature."""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.genai import types

from ..workspace import IMAGE_EXTENSIONS, Workspace

if TYPE_CHECKING:
    from delta3_core.services import Services

_SCHEMA_TYPES = {str: "STRING", int: "INTEGER", float: "NUMBER", bool: "BOOLEAN"}


@dataclass
class ToolContext:
    """Who a tool acts for: the services (settings, storage, executor) and the user id."""

    services: Services
    user_id: str
    changes: Any = None  # the turn's checkpoints.Recorder (made here, never committed, if not given)

    @property
    def recorder(self) -> Any:
        """Where file-changing tools report what they change, for undo (and to keep its store current)."""
        if self.changes is None:
            from ..checkpoints import Recorder

            self.changes = Recorder(self.services, self.user_id)
        return self.changes

    @property
    def workspace(self) -> Workspace:
        """The user's workspace, with the configured quota."""
        return Workspace(self.services.backend, self.user_id, self.services.settings.quota_bytes)


@dataclass
class ToolResult:
    """A tool's outcome as the model will read it; `images` are workspace paths of pictures made."""

    ok: bool
    text: str
    images: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Tool:
    """A typed function and the declaration the model sees for it."""

    name: str
    function: Callable[..., ToolResult | str]
    declaration: types.FunctionDeclaration
    params: dict[str, inspect.Parameter]
    hints: dict[str, Any]


def images_in(paths: list[str]) -> list[str]:
    """The picture files among `paths`."""
    return [p for p in paths if p.lower().endswith(IMAGE_EXTENSIONS)]


def make_tool(function: Callable[..., Any]) -> Tool:
    """Build a Tool from `function(ctx, ...)`: its name, typed arguments and docstring become the schema."""
    hints = typing.get_type_hints(function)
    params = dict(list(inspect.signature(function).parameters.items())[1:])  # the first is the ToolContext
    summary, arg_docs = _parse_docstring(inspect.getdoc(function) or "")
    properties = {}
    for name, param in params.items():
        description = arg_docs.get(name, "")
        if param.default is not inspect.Parameter.empty:
            description += f" Default: {param.default!r}."
        properties[name] = types.Schema(type=_SCHEMA_TYPES[hints[name]], description=description.strip())
    required = [n for n, p in params.items() if p.default is inspect.Parameter.empty]
    declaration = types.FunctionDeclaration(
        name=function.__name__, description=summary,
        parameters=types.Schema(type="OBJECT", properties=properties, required=required or None))
    return Tool(function.__name__, function, declaration, params, {n: hints[n] for n in params})


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its description and its 'Args:' entries."""
    head, _, args_block = doc.partition("\nArgs:\n")
    arg_docs: dict[str, str] = {}
    current = None
    for line in args_block.splitlines():
        match = re.match(r"\s+(\w+):\s*(.*)", line)
        if match and line.startswith("    ") and not line.startswith("        "):
            current = match.group(1)
            arg_docs[current] = match.group(2)
        elif current and line.strip():
            arg_docs[current] += " " + line.strip()
    return " ".join(head.split()), arg_docs
