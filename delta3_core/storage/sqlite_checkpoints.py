"""SqliteRecordStore's undo checkpoints (the table from migration 005_undo_checkpoints)."""

from __future__ import annotations

import time
from typing import Any

from .base import CHECKPOINT_MAX_AGE_S, CheckpointRecord
from .codec import dump_meta, load_meta


class SqliteCheckpointsMixin:
    """One row per turn that changed files: what undo needs to revert it."""

    def put_checkpoint(self, user_id: str, record: CheckpointRecord) -> None:
        """Store a turn's checkpoint; ones past CHECKPOINT_MAX_AGE_S are dropped on the way."""
        with self._tx() as tx:
            tx.execute("DELETE FROM checkpoints WHERE user_id = ? AND created_at < ?",
                       (user_id, time.time() - CHECKPOINT_MAX_AGE_S))
            tx.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?, ?)",
                       (user_id, record.turn_id, record.created_at, dump_meta(record.data),
                        None if record.undone is None else dump_meta(record.undone)))

    def recent_checkpoints(self, user_id: str, limit: int) -> list[CheckpointRecord]:
        """The newest `limit` checkpoints younger than CHECKPOINT_MAX_AGE_S, newest first."""
        rows = self._read("SELECT * FROM checkpoints WHERE user_id = ? AND created_at >= ? "
                          "ORDER BY turn_id DESC LIMIT ?", (user_id, time.time() - CHECKPOINT_MAX_AGE_S, limit))
        return [CheckpointRecord(r["turn_id"], r["created_at"], load_meta(r["data"]),
                                 load_meta(r["undone"]) if r["undone"] else None) for r in rows]

    def mark_checkpoint_undone(self, user_id: str, turn_id: str, undone: dict[str, Any] | None) -> bool:
        """Set `undone` if unset (True when this call did), or clear it with None."""
        with self._tx() as tx:
            if undone is None:
                tx.execute("UPDATE checkpoints SET undone = NULL WHERE user_id = ? AND turn_id = ?", (user_id, turn_id))
                return True
            cursor = tx.execute("UPDATE checkpoints SET undone = ? WHERE user_id = ? AND turn_id = ? "
                                "AND undone IS NULL", (dump_meta(undone), user_id, turn_id))
            return cursor.rowcount == 1

    def delete_checkpoints(self, user_id: str, turn_ids: list[str]) -> None:
        with self._tx() as tx:
            tx.executemany("DELETE FROM checkpoints WHERE user_id = ? AND turn_id = ?",
                           [(user_id, turn_id) for turn_id in turn_ids])
