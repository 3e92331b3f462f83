"""The typed events a chat turn yields: the web page renders them live, SMS collects them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TextDelta:
    """A piece of the model's answer as it streams in."""

    text: str


@dataclass
class ThoughtDelta:
    """A piece of the model's thought summary (web only): shown folded away, never part of the answer."""

    text: str


@dataclass
class ToolStarted:
    """The model called a tool; it is running now."""

    call_id: str
    name: str
    args: dict[str, Any]


@dataclass
class ToolFinished:
    """A tool call ended; `result` is what the model was told, `images` are workspace paths of pictures made."""

    call_id: str
    name: str
    ok: bool
    result: str
    images: list[str] = field(default_factory=list)


@dataclass
class Final:
    """The turn is over: the whole answer text, token usage, and every picture made during the turn."""

    text: str
    usage: dict[str, int] = field(default_factory=dict)
    images: list[str] = field(default_factory=list)


@dataclass
class ErrorEvent:
    """The turn failed; `message` is one plain sentence for the user, `kind` a short code (see ModelError)."""

    message: str
    kind: str = "error"


Event = TextDelta | ThoughtDelta | ToolStarted | ToolFinished | Final | ErrorEvent
