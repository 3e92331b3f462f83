"""/chat/history and /chat/clear: the conversation every channel shares."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .. import history
from ..storage.base import HISTORY_KEEP
from .auth import iso
from .framework import Call, Model, operation


class HistoryQuery(Model):
    limit: int = Field(50, ge=1, le=HISTORY_KEEP, description=f"messages to return (1 to {HISTORY_KEEP})")
    before: int | None = Field(None, ge=0, description="only messages with a seq below this (from next_before)")


class HistoryMessage(BaseModel):
    seq: int
    role: str = Field(description="user, assistant or tool")
    content: str
    channel: str = Field(description="web, sms or api")
    created_at: str
    meta: dict[str, Any] = Field(description="tool name and arguments, token usage, pictures made...")


class HistoryPage(BaseModel):
    messages: list[HistoryMessage] = Field(description="oldest first")
    next_before: int | None = Field(description="pass as `before` for the page of older messages; null at the start")


@operation("GET", "/chat/history", summary="Read the conversation", tag="chat", query=HistoryQuery,
           response=HistoryPage)
def read_history(call: Call) -> HistoryPage:
    """The newest messages (the store keeps 100), oldest first; page back with `before`."""
    kept = history.recent(call.services.backend, call.user_id, HISTORY_KEEP)
    before = call.query.before
    if before is not None:
        kept = [m for m in kept if m.seq < before]
    page = kept[-call.query.limit:]
    older = len(kept) > len(page)
    return HistoryPage(messages=[HistoryMessage(seq=m.seq, role=m.role, content=m.content, channel=m.channel,
                                                created_at=iso(m.created_at), meta=m.meta or {}) for m in page],
                       next_before=page[0].seq if older and page else None)


@operation("POST", "/chat/clear", summary="Forget the conversation", tag="chat", status=204)
def clear_history(call: Call) -> None:
    """Delete the whole chat history (files stay)."""
    history.clear(call.services.backend, call.user_id)
