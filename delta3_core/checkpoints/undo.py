"""Undo: revert the file changes of the newest turn not undone yet (or of one chosen turn)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .. import history
from ..errors import ConflictError, Delta3Error, NotFoundError
from ..storage.base import CheckpointRecord, Message
from .recorder import KEEP_TURNS, versions_for

log = logging.getLogger(__name__)

NOTHING_LEFT = "Nothing left to undo: no earlier turn changed files (undo reaches back 50 turns or 30 days)."


@dataclass
class UndoResult:
    """What an undo did: the paths put back, the paths kept because they changed since, and which turn."""

    turn: str
    restored: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    label: str = ""
    created_at: float = 0.0

    def message(self) -> str:
        """One plain paragraph for people, on any channel."""
        about = f' (your message "{_short(self.label)}")' if self.label else ""
        parts = []
        if self.restored:
            parts.append(f"Undid the file changes of that turn{about}: restored {_names(self.restored)}.")
        else:
            parts.append(f"Nothing was restored from that turn{about}.")
        if self.kept:
            parts.append(f"Kept {_names(self.kept)} as they are now: changed since that turn.")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The API's answer: {restored, kept, turn}."""
        return {"restored": self.restored, "kept": self.kept, "turn": self.turn}


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _names(paths: list[str], limit: int = 10) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def undoable(services: Any, user_id: str) -> list[CheckpointRecord]:
    """The checkpoints undo can still reach, newest first (undone ones included, marked)."""
    return services.backend.records.recent_checkpoints(user_id, KEEP_TURNS)


def undo_last(services: Any, user_id: str, channel: str = "web") -> UndoResult:
    """Revert the newest turn not undone yet; ConflictError("Nothing left to undo...") when there is none."""
    for _attempt in range(KEEP_TURNS):
        record = next((r for r in undoable(services, user_id) if r.undone is None), None)
        if record is None:
            raise ConflictError(NOTHING_LEFT)
        result = _revert(services, user_id, record, channel)
        if result is not None:
            return result
        # another channel took this turn at the same moment: walk on to the one before
    raise ConflictError(NOTHING_LEFT)


def undo_turn(services: Any, user_id: str, turn_id: str, channel: str = "web") -> UndoResult:
    """Revert one chosen turn (the web's button); NotFoundError if too old, ConflictError if already undone."""
    record = next((r for r in undoable(services, user_id) if r.turn_id == turn_id), None)
    if record is None:
        raise NotFoundError("That turn can no longer be undone (undo reaches back 50 turns or 30 days).")
    result = _revert(services, user_id, record, channel) if record.undone is None else None
    if result is None:
        raise ConflictError("Those changes were already undone.")
    return result


def _revert(services: Any, user_id: str, record: CheckpointRecord, channel: str) -> UndoResult | None:
    """Claim the turn (only one caller can), put its paths back, and record the undo in the history."""
    records = services.backend.records
    if not records.mark_checkpoint_undone(user_id, record.turn_id, {"at": time.time(), "channel": channel}):
        return None
    try:
        restored, kept = versions_for(services).revert(user_id, record.data.get("changes", []))
    except BaseException:
        records.mark_checkpoint_undone(user_id, record.turn_id, None)  # nothing was undone: leave it undoable
        raise
    result = UndoResult(record.turn_id, restored, kept, record.data.get("label", ""), record.created_at)
    try:
        history.append(services.backend, user_id, [
            Message("user", "Undo", channel, meta={"command": "undo"}),
            Message("assistant", result.message(), channel, meta={"undo": result.to_dict()})])
    except Delta3Error as exc:  # the files are back; only the note in the conversation is missing
        log.warning("could not record the undo of user %s: %s", user_id, exc)
    return result
