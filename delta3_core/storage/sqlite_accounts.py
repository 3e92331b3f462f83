"""SqliteRecordStore's account deletion and daily usage (tables from migration 003_accounts_purges_and_usage_days)."""

from __future__ import annotations

import time

from .base import USAGE_COUNTS, PurgeJob, UsageRow, UserRecord
from .codec import check_user_id


class SqliteAccountsMixin:
    """Deleting accounts, purging what is left of them, and usage per day and model."""

    def delete_user(self, user_id: str) -> UserRecord | None:
        """Delete the profile (the email claim goes with it) and its phone, and queue a purge: one transaction."""
        with self._tx() as tx:
            user = self._user(tx.execute("SELECT * FROM users WHERE user_id = ?", (user_id,)).fetchone())
            if user is None:
                return None
            tx.execute("DELETE FROM users WHERE user_id = ?", (user_id,))
            tx.execute("DELETE FROM phones WHERE user_id = ?", (user_id,))
            tx.execute("INSERT OR REPLACE INTO purges VALUES (?, ?, ?)", (user_id, time.time(), user.phone))
        return user

    def pending_purges(self) -> list[PurgeJob]:
        """Queued purges, oldest first."""
        return [PurgeJob(r["user_id"], r["queued_at"], r["phone"])
                for r in self._read("SELECT * FROM purges ORDER BY queued_at")]

    def purge_user_records(self, user_id: str) -> None:
        """Delete the user's rows from every table keyed by user_id, and values whose key names the user."""
        check_user_id(user_id)
        with self._tx() as tx:
            tables = [r["name"] for r in tx.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:  # every table, including ones later migrations add (tokens, checkpoints...)
                columns = {r["name"] for r in tx.execute(f"PRAGMA table_info({table})")}
                if "user_id" in columns and table != "purges":
                    tx.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
            if len(user_id) >= 16:  # a real id (uuid hex) cannot match another key by chance
                for table in ("kv", "counters", "claims"):
                    tx.execute(f"DELETE FROM {table} WHERE instr(key, ?) > 0", (user_id,))

    def finish_purge(self, user_id: str) -> None:
        with self._tx() as tx:
            tx.execute("DELETE FROM purges WHERE user_id = ?", (user_id,))

    def add_usage(self, user_id: str, day: str, model: str, counts: dict[str, int]) -> None:
        """Add to the day's row (created at zero); rows older than the kept days are dropped on the way."""
        values = [int(counts.get(name, 0)) for name in USAGE_COUNTS]
        with self._tx() as tx:
            tx.execute(f"INSERT INTO usage_days VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(user_id, day, model) DO "
                       f"UPDATE SET {', '.join(f'{n} = {n} + excluded.{n}' for n in USAGE_COUNTS)}",
                       (user_id, day, model, *values))
            tx.execute("DELETE FROM usage_days WHERE user_id = ? AND day < date(?, '-90 days')", (user_id, day))

    def usage_rows(self, user_id: str, first_day: str) -> list[UsageRow]:
        rows = self._read("SELECT * FROM usage_days WHERE user_id = ? AND day >= ? ORDER BY day, model",
                          (user_id, first_day))
        return [UsageRow(r["day"], r["model"], *(r[n] for n in USAGE_COUNTS)) for r in rows]
