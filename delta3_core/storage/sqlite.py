"""SqliteRecordStore: users, sessions, phones, history, counters in one SQLite file (WAL)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from ..errors import ConflictError, NotFoundError, StorageError
from . import sqlite_jobs
from .base import (
    HISTORY_KEEP,
    AccessTokenRecord,
    Message,
    SessionRecord,
    UserRecord,
)
from .codec import check_changes, dump_meta, load_meta, stamped, user_from_dict
from .sqlite_accounts import SqliteAccountsMixin
from .sqlite_checkpoints import SqliteCheckpointsMixin

BUSY_TIMEOUT_MS = 10_000
# Named migrations, applied once each in order and recorded in the `migrations` table.
MIGRATIONS: list[tuple[str, str]] = [
    ("001_initial", """
        CREATE TABLE users (
            user_id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
            created_at REAL NOT NULL, sessions_valid_after REAL NOT NULL DEFAULT 0,
            gemini_key_ct TEXT, model TEXT, phone TEXT, prefs TEXT NOT NULL DEFAULT '{}');
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL);
        CREATE INDEX sessions_user ON sessions(user_id);
        CREATE TABLE phones (phone TEXT PRIMARY KEY, user_id TEXT NOT NULL);
        CREATE TABLE history_seq (user_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
        CREATE TABLE messages (
            user_id TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL,
            channel TEXT NOT NULL, created_at REAL NOT NULL, meta TEXT NOT NULL,
            PRIMARY KEY (user_id, seq)) WITHOUT ROWID;
        CREATE TABLE counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires_at REAL NOT NULL);
        CREATE INDEX counters_expiry ON counters(expires_at);
        CREATE TABLE claims (key TEXT PRIMARY KEY, expires_at REAL NOT NULL);
        CREATE INDEX claims_expiry ON claims(expires_at);
        CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL NOT NULL);
        CREATE INDEX kv_expiry ON kv(expires_at);
    """),
    # REST API personal access tokens: looked up by hash on every request, listed per user.
    ("002_api_access_tokens", """
        CREATE TABLE access_tokens (
            token_hash TEXT PRIMARY KEY, token_id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, name TEXT NOT NULL,
            created_at REAL NOT NULL, expires_at REAL);
        CREATE INDEX access_tokens_user ON access_tokens(user_id);
    """),
    ("003_accounts_purges_and_usage_days", """
        CREATE TABLE purges (user_id TEXT PRIMARY KEY, queued_at REAL NOT NULL, phone TEXT);
        CREATE TABLE usage_days (
            user_id TEXT NOT NULL, day TEXT NOT NULL, model TEXT NOT NULL,
            tokens_in INTEGER NOT NULL DEFAULT 0, tokens_out INTEGER NOT NULL DEFAULT 0,
            tokens_thinking INTEGER NOT NULL DEFAULT 0, requests INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (user_id, day, model)) WITHOUT ROWID;
    """),
    sqlite_jobs.MIGRATION,
    ("005_undo_checkpoints", """
        CREATE TABLE checkpoints (
            user_id TEXT NOT NULL, turn_id TEXT NOT NULL, created_at REAL NOT NULL, data TEXT NOT NULL,
            undone TEXT, PRIMARY KEY (user_id, turn_id)) WITHOUT ROWID;
    """),
]
_USER_COLUMNS = ("user_id", "email", "password_hash", "created_at", "sessions_valid_after",
                 "gemini_key_ct", "model", "phone", "prefs")
_FAILED = "The local database failed, so nothing was saved; please try again."


class SqliteRecordStore(SqliteAccountsMixin, SqliteCheckpointsMixin):
    """RecordStore on SQLite; one connection per thread, writes in BEGIN IMMEDIATE transactions."""

    def __init__(self, db_path: Path | str, connection_factory: type[sqlite3.Connection] | None = None):
        self.db_path = Path(db_path)
        self._factory = connection_factory or sqlite3.Connection
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._write_lock = threading.RLock()
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            # Owner-only before SQLite opens it (its -wal and -shm files copy these modes): code runs
            # as another uid that may pass through the data dir.
            os.close(os.open(self.db_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
            os.chmod(self.db_path, 0o600)
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"The local database at {self.db_path} could not be opened.") from exc

    # -- connections and transactions -------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: we issue BEGIN ourselves so every write is one explicit transaction.
            conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False, factory=self._factory)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: all of it is committed, or none of it (and a StorageError)."""
        # This process's writers queue here, in turn, instead of in SQLite's busy handler, which sleeps
        # (up to 100 ms a try) and lets a burst of webhook requests wait far longer than the writes take.
        with self._write_lock, self._tx_locked() as conn:
            yield conn

    @contextmanager
    def _tx_locked(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")  # take the write lock now, so read-then-write cannot race
        except sqlite3.Error as exc:
            raise StorageError(_FAILED) from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            with suppress(sqlite3.Error):  # the transaction may already be gone; the original error matters
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.IntegrityError):
                raise ConflictError("That record already exists.") from exc
            if isinstance(exc, sqlite3.Error):
                raise StorageError(_FAILED) from exc
            raise

    def _read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        try:
            return self._conn().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StorageError("The local database could not be read; please try again.") from exc

    def _migrate(self) -> None:
        conn = self._conn()
        conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
        for name, sql in MIGRATIONS:
            with self._tx() as tx:
                if tx.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone():
                    continue
                for statement in filter(str.strip, sql.split(";")):
                    tx.execute(statement)
                tx.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))

    def applied_migrations(self) -> list[str]:
        """Names of the migrations applied to this database, in order."""
        return [r["name"] for r in self._read("SELECT name FROM migrations ORDER BY name")]

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    # -- users ------------------------------------------------------------------------
    @staticmethod
    def _user(row: sqlite3.Row | None) -> UserRecord | None:
        if row is None:
            return None
        data = dict(row)
        data["prefs"] = load_meta(data["prefs"])
        return user_from_dict(data)

    def create_user(self, user: UserRecord) -> None:
        """Insert a user; ConflictError if the email (or id) is taken."""
        values = [getattr(user, c) for c in _USER_COLUMNS]
        values[-1] = dump_meta(user.prefs)
        try:
            with self._tx() as tx:
                tx.execute(f"INSERT INTO users ({', '.join(_USER_COLUMNS)}) VALUES ({', '.join('?' * 9)})", values)
        except ConflictError:
            raise ConflictError("An account with that email already exists.") from None

    def get_user(self, user_id: str) -> UserRecord | None:
        return self._user(next(iter(self._read("SELECT * FROM users WHERE user_id = ?", (user_id,))), None))

    def find_user_by_email(self, email: str) -> UserRecord | None:
        return self._user(next(iter(self._read("SELECT * FROM users WHERE email = ?", (email,))), None))

    def update_user(self, user_id: str, **changes: Any) -> UserRecord:
        """Set the given fields; NotFoundError if absent, ConflictError if a new email is taken."""
        check_changes(changes)
        if "prefs" in changes:
            changes["prefs"] = dump_meta(changes["prefs"])
        try:
            with self._tx() as tx:
                if changes:
                    assignments = ", ".join(f"{name} = ?" for name in changes)
                    tx.execute(f"UPDATE users SET {assignments} WHERE user_id = ?", (*changes.values(), user_id))
                row = tx.execute("SELECT * FROM users WHERE user_id = ?", (user_id,)).fetchone()
                if row is None:
                    raise NotFoundError("That account does not exist.")
        except ConflictError:
            raise ConflictError("An account with that email already exists.") from None
        return self._user(row)

    def all_user_ids(self) -> list[str]:
        """Every user id (for maintenance jobs such as key rotation)."""
        return [r["user_id"] for r in self._read("SELECT user_id FROM users ORDER BY user_id")]

    # -- sessions ---------------------------------------------------------------------
    def put_session(self, session: SessionRecord) -> None:
        with self._tx() as tx:
            tx.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?)",
                       (session.token_hash, session.user_id, session.created_at, session.expires_at))
            tx.execute("DELETE FROM sessions WHERE user_id = ? AND expires_at < ?", (session.user_id, time.time()))

    def get_session(self, token_hash: str) -> SessionRecord | None:
        """The session, or None if absent or expired."""
        rows = self._read("SELECT * FROM sessions WHERE token_hash = ? AND expires_at > ?", (token_hash, time.time()))
        return SessionRecord(**dict(rows[0])) if rows else None

    def delete_session(self, token_hash: str) -> None:
        with self._tx() as tx:
            tx.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    # -- phones -----------------------------------------------------------------------
    def link_phone(self, phone: str, user_id: str) -> None:
        """Claim `phone` for the user and set user.phone; the user's previous phone is released."""
        with self._tx() as tx:
            holder = tx.execute("SELECT user_id FROM phones WHERE phone = ?", (phone,)).fetchone()
            if holder is not None and holder["user_id"] != user_id:
                raise ConflictError("That phone number is already linked to another account.")
            if tx.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone() is None:
                raise NotFoundError("That account does not exist.")
            tx.execute("DELETE FROM phones WHERE user_id = ? AND phone != ?", (user_id, phone))
            tx.execute("INSERT OR REPLACE INTO phones VALUES (?, ?)", (phone, user_id))
            tx.execute("UPDATE users SET phone = ? WHERE user_id = ?", (phone, user_id))

    def get_phone_user(self, phone: str) -> str | None:
        rows = self._read("SELECT user_id FROM phones WHERE phone = ?", (phone,))
        return rows[0]["user_id"] if rows else None

    def unlink_phone(self, phone: str) -> None:
        """Release `phone` and clear it from its user's record."""
        with self._tx() as tx:
            tx.execute("UPDATE users SET phone = NULL WHERE phone = ?", (phone,))
            tx.execute("DELETE FROM phones WHERE phone = ?", (phone,))

    # -- history ----------------------------------------------------------------------
    def append_messages(self, user_id: str, messages: list[Message]) -> list[Message]:
        """Append with new seq numbers and trim to HISTORY_KEEP, in one transaction."""
        if not messages:
            return []
        now = time.time()
        with self._tx() as tx:
            row = tx.execute("SELECT seq FROM history_seq WHERE user_id = ?", (user_id,)).fetchone()
            last = row["seq"] if row else 0
            stored = [stamped(m, last + i + 1, now) for i, m in enumerate(messages)]
            tx.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [(user_id, m.seq, m.role, m.content, m.channel, m.created_at, dump_meta(m.meta))
                            for m in stored])
            top = stored[-1].seq
            tx.execute("INSERT OR REPLACE INTO history_seq VALUES (?, ?)", (user_id, top))
            tx.execute("DELETE FROM messages WHERE user_id = ? AND seq <= ?", (user_id, top - HISTORY_KEEP))
        return stored

    def recent_messages(self, user_id: str, limit: int) -> list[Message]:
        """The newest `limit` messages, oldest first (reads the primary key index backwards)."""
        rows = self._read("SELECT * FROM messages WHERE user_id = ? ORDER BY seq DESC LIMIT ?", (user_id, limit))
        return [Message(role=r["role"], content=r["content"], channel=r["channel"], created_at=r["created_at"],
                        meta=load_meta(r["meta"]), seq=r["seq"]) for r in reversed(rows)]

    def clear_messages(self, user_id: str) -> None:
        """Delete the history; seq numbers keep increasing afterwards."""
        with self._tx() as tx:
            tx.execute("DELETE FROM messages WHERE user_id = ?", (user_id,))

    # -- counters, claims, values -----------------------------------------------------
    def incr_counter(self, key: str, window_s: int, amount: int = 1) -> int:
        """Add to the counter of the current fixed window (keyed by window number); return it."""
        now = time.time()
        window = int(now // window_s)
        with self._tx() as tx:
            tx.execute("DELETE FROM counters WHERE expires_at < ?", (now,))
            row = tx.execute(
                "INSERT INTO counters VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value"
                " RETURNING value", (f"{key}#{window}", amount, (window + 1) * window_s)).fetchone()
        return int(row["value"])

    def claim(self, key: str, ttl_s: int) -> bool:
        """True for the first caller to claim `key` until it expires."""
        now = time.time()
        with self._tx() as tx:
            tx.execute("DELETE FROM claims WHERE expires_at <= ?", (now,))
            cursor = tx.execute("INSERT OR IGNORE INTO claims VALUES (?, ?)", (key, now + ttl_s))
            return cursor.rowcount == 1

    def put_value(self, key: str, value: str, ttl_s: int) -> None:
        now = time.time()
        with self._tx() as tx:
            tx.execute("DELETE FROM kv WHERE expires_at <= ?", (now,))
            tx.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (key, value, now + ttl_s))

    def get_value(self, key: str) -> str | None:
        """The value, or None if absent or expired."""
        rows = self._read("SELECT value FROM kv WHERE key = ? AND expires_at > ?", (key, time.time()))
        return rows[0]["value"] if rows else None

    def delete_value(self, key: str) -> None:
        with self._tx() as tx:
            tx.execute("DELETE FROM kv WHERE key = ?", (key,))

    # -- API access tokens ------------------------------------------------------------
    def put_access_token(self, token: AccessTokenRecord) -> None:
        with self._tx() as tx:
            tx.execute("INSERT INTO access_tokens VALUES (?, ?, ?, ?, ?, ?)",
                       (token.token_hash, token.token_id, token.user_id, token.name, token.created_at,
                        token.expires_at))
            tx.execute("DELETE FROM access_tokens WHERE user_id = ? AND expires_at < ?", (token.user_id, time.time()))

    def get_access_token(self, token_hash: str) -> AccessTokenRecord | None:
        """The token, or None if absent or expired."""
        rows = self._read("SELECT * FROM access_tokens WHERE token_hash = ? AND (expires_at IS NULL OR expires_at > ?)",
                          (token_hash, time.time()))
        return AccessTokenRecord(**dict(rows[0])) if rows else None

    def list_access_tokens(self, user_id: str) -> list[AccessTokenRecord]:
        """The user's unexpired tokens, oldest first."""
        rows = self._read("SELECT * FROM access_tokens WHERE user_id = ? AND (expires_at IS NULL OR expires_at > ?)"
                          " ORDER BY created_at, token_id", (user_id, time.time()))
        return [AccessTokenRecord(**dict(row)) for row in rows]

    def delete_access_token(self, user_id: str, token_id: str) -> bool:
        """Revoke one of the user's tokens; False if the user has no token with that id."""
        with self._tx() as tx:
            cursor = tx.execute("DELETE FROM access_tokens WHERE user_id = ? AND token_id = ?", (user_id, token_id))
            return cursor.rowcount == 1

    # -- durable turn queue (delta3_core/turns; SQL in sqlite_jobs.py) -----------------
    def enqueue_job(self, job, claim_key: str, claim_ttl_s: int) -> bool:
        """Claim `claim_key` and write the job in one step; False (nothing written) if claimed before."""
        return sqlite_jobs.enqueue_job(self, job, claim_key, claim_ttl_s)

    def get_job(self, job_id: str):
        """The job (open, or finished within a week), or None."""
        return sqlite_jobs.get_job(self, job_id)

    def open_jobs(self, limit: int = 1000) -> list:
        """Pending and running jobs, in queue order."""
        return sqlite_jobs.open_jobs(self, limit)

    def failed_jobs(self, limit: int = 100) -> list:
        """Jobs that could not be answered (kept a week), oldest first."""
        return sqlite_jobs.failed_jobs(self, limit)

    def lease_job(self, job, owner: str, lease_s: float):
        """Take `job` (as seen) if it is pending or its lease ran out; the leased job, or None."""
        return sqlite_jobs.lease_job(self, job, owner, lease_s)

    def save_job(self, job) -> None:
        """Write the job as its lease holder (owner and attempts must match); LeaseLost otherwise."""
        sqlite_jobs.save_job(self, job)

    # -- account deletion of durable turn jobs ---------------------------------------------
    def delete_user_jobs(self, user_id: str, phone: str | None = None) -> None:
        """Delete every job of a deleted account: its API turns and the SMS sent from its phone."""
        sqlite_jobs.delete_user_jobs(self, user_id, phone)
