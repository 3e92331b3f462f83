"""/chat/undo: revert the file changes of the newest turn not undone yet, as SMS UNDO and the web button do."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..checkpoints import undo_last
from .framework import Call, operation


class Undone(BaseModel):
    restored: list[str] = Field(description="paths put back as they were before the turn")
    kept: list[str] = Field(description="paths changed since the turn, so left as they are now")
    turn: str = Field(description="the id of the turn whose changes were undone")
    message: str = Field(description="the same sentence the web and SMS show")


@operation("POST", "/chat/undo", summary="Undo the last file changes", tag="chat", response=Undone, errors=(409,))
def undo(call: Call) -> Undone:
    """Revert the newest turn that changed files and is not undone yet; again for the one before.

    409 when nothing is left to undo (undo reaches back 50 turns or 30 days).
    """
    result = undo_last(call.services, call.user_id, channel="api")
    return Undone(**result.to_dict(), message=result.message())
