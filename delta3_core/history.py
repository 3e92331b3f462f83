"""Chat history: the store keeps the newest 100 messages per user; the newest 20 go to the model."""

from __future__ import annotations

import time
from collections.abc import Iterable

from .errors import ValidationError
from .storage.base import HISTORY_KEEP, Backend, Message

CONTEXT_MESSAGES = 20
ROLES = ("user", "assistant", "tool")

clock = time.time  # module-level so tests can move time


def append(backend: Backend, user_id: str, messages: Iterable[Message]) -> list[Message]:
    """Append messages in order (stamping created_at when unset); return them with their seq numbers."""
    batch = list(messages)
    for message in batch:
        if message.role not in ROLES:
            raise ValidationError(f"A history message must have role {', '.join(ROLES)}, not {message.role!r}.")
        if not message.created_at:
            message.created_at = clock()
    if not batch:
        return []
    return backend.records.append_messages(user_id, batch)


def context(backend: Backend, user_id: str) -> list[Message]:
    """The newest CONTEXT_MESSAGES messages, oldest first: what the model sees of the past."""
    return backend.records.recent_messages(user_id, CONTEXT_MESSAGES)


def recent(backend: Backend, user_id: str, limit: int = HISTORY_KEEP) -> list[Message]:
    """The newest `limit` stored messages (at most HISTORY_KEEP), oldest first."""
    limit = min(limit, HISTORY_KEEP)
    return backend.records.recent_messages(user_id, limit) if limit > 0 else []


def clear(backend: Backend, user_id: str) -> None:
    """Delete the user's whole chat history."""
    backend.records.clear_messages(user_id)
