"""The agent: chat with Gemini about the user's workspace, as a stream of typed events."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import keys
from ..errors import ModelError
from . import model as _model
from .events import ErrorEvent, Event, Final, TextDelta, ThoughtDelta, ToolFinished, ToolStarted
from .loop import run_turn

if TYPE_CHECKING:
    from delta3_core.config import Settings
    from delta3_core.services import Services

__all__ = ["ErrorEvent", "Event", "Final", "Reply", "TextDelta", "ThoughtDelta", "ToolFinished", "ToolStarted",
           "chat", "check_key", "collect"]


def chat(services: Services, user_id: str, text: str, channel: str = "web",
         attachments: Iterable[str] = ()) -> Iterator[Event]:
    """Answer `text` from `user_id` on channel "web" or "sms", yielding events; the turn saves itself.

    `attachments` are workspace paths of files the user sent with the message (pictures are shown
    to the model). Errors arrive as one ErrorEvent with a plain sentence; nothing is raised.
    """
    return run_turn(services, user_id, text, channel, attachments)


@dataclass
class Reply:
    """A whole turn gathered into one answer (for SMS): text, pictures, token usage, and any error sentence."""

    text: str = ""
    images: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    error_kind: str | None = None


def collect(events: Iterable[Event]) -> Reply:
    """Run a turn to its end and gather its events into one Reply."""
    reply, streamed = Reply(), []
    for event in events:
        if isinstance(event, TextDelta):
            streamed.append(event.text)
        elif isinstance(event, ToolFinished):
            reply.images.extend(p for p in event.images if p not in reply.images)
        elif isinstance(event, Final):
            reply.text, reply.usage = event.text, event.usage
            reply.images.extend(p for p in event.images if p not in reply.images)
        elif isinstance(event, ErrorEvent) and reply.error is None:
            reply.error, reply.error_kind = event.message, event.kind
    if not reply.text:
        reply.text = "".join(streamed)
    return reply


def check_key(settings: Settings, key: str) -> None:
    """Check a Gemini key with one cheap call; ModelError (a plain sentence) if it does not work.

    ValidationError, before any call, for text that cannot be a key (a pasted password is never sent).
    """
    key = keys.clean_key(key)
    try:
        _model.check_key(key, timeout_s=min(settings.model_timeout_s, 20.0))
    except ModelError as exc:
        if exc.kind == "invalid_key":
            raise ModelError("Gemini rejected that API key; check that you copied all of it.", "invalid_key") from None
        raise
