"""Storage contracts: the records and protocols both backends implement."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

HISTORY_KEEP = 100  # messages kept per user; older ones are trimmed on append
CHECKPOINT_MAX_AGE_S = 30 * 24 * 3600  # undo reaches back at most 30 days (and 50 turns)


@dataclass
class UserRecord:
    """One account. `gemini_key_ct` is ciphertext from a KeyCipher, never the key."""

    user_id: str
    email: str
    password_hash: str
    created_at: float
    sessions_valid_after: float = 0.0  # sessions created before this are revoked
    gemini_key_ct: str | None = None
    model: str | None = None
    phone: str | None = None
    prefs: dict[str, Any] = field(default_factory=dict)


@dataclass
class SessionRecord:
    """A login session; only the sha256 of the token is stored."""

    token_hash: str
    user_id: str
    created_at: float
    expires_at: float


@dataclass
class Message:
    """One history entry: role is 'user', 'assistant' or 'tool'; meta holds tool/usage details."""

    role: str
    content: str
    channel: str = "web"
    created_at: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    seq: int = 0  # set by the store: strictly increasing per user


@dataclass
class CheckpointRecord:
    """One turn's file changes for undo; `turn_id` sorts by time; `undone` is set once, when undone."""

    turn_id: str
    created_at: float
    data: dict[str, Any] = field(default_factory=dict)
    undone: dict[str, Any] | None = None


@dataclass
class FileInfo:
    """A file (or folder, when is_dir) in a workspace; path is relative, '/'-separated."""

    path: str
    size: int
    mtime: float
    is_dir: bool = False


@dataclass
class AccessTokenRecord:
    """A personal access token for the REST API; only the sha256 of the secret is stored."""

    token_id: str
    token_hash: str
    user_id: str
    name: str
    created_at: float
    expires_at: float | None = None  # None: until revoked


class RecordStore(Protocol):
    """Users, sessions, phones, history, counters: SQLite locally, DynamoDB on AWS."""

    def create_user(self, user: UserRecord) -> None:
        """Insert a user; ConflictError if the email is taken (atomic with the email claim)."""

    def get_user(self, user_id: str) -> UserRecord | None: ...
    def find_user_by_email(self, email: str) -> UserRecord | None: ...

    def update_user(self, user_id: str, **changes: Any) -> UserRecord:
        """Set the given UserRecord fields; NotFoundError if there is no such user."""

    def put_session(self, session: SessionRecord) -> None: ...
    def get_session(self, token_hash: str) -> SessionRecord | None: ...
    def delete_session(self, token_hash: str) -> None: ...

    def link_phone(self, phone: str, user_id: str) -> None:
        """Claim an E.164 phone for a user; ConflictError if another user holds it."""

    def get_phone_user(self, phone: str) -> str | None: ...
    def unlink_phone(self, phone: str) -> None: ...

    def append_messages(self, user_id: str, messages: list[Message]) -> list[Message]:
        """Append in order with new seq numbers, trim to HISTORY_KEEP; safe under concurrency."""

    def recent_messages(self, user_id: str, limit: int) -> list[Message]:
        """The newest `limit` messages, oldest first."""

    def clear_messages(self, user_id: str) -> None: ...

    def incr_counter(self, key: str, window_s: int, amount: int = 1) -> int:
        """Add to the counter of the current fixed time window; return its new value."""

    def claim(self, key: str, ttl_s: int) -> bool:
        """True for the first caller to claim `key` (until it expires), False for any other."""

    def put_value(self, key: str, value: str, ttl_s: int) -> None: ...
    def get_value(self, key: str) -> str | None: ...
    def delete_value(self, key: str) -> None: ...

    # -- API access tokens (REST API)
    def put_access_token(self, token: AccessTokenRecord) -> None:
        """Store a new personal access token (findable by hash and listed under its user)."""

    def get_access_token(self, token_hash: str) -> AccessTokenRecord | None:
        """The token with this hash, or None if absent or expired."""

    def list_access_tokens(self, user_id: str) -> list[AccessTokenRecord]:
        """The user's unexpired tokens, oldest first."""

    def delete_access_token(self, user_id: str, token_id: str) -> bool:
        """Revoke the user's token `token_id`; False if the user has no such token."""

    # -- account deletion and daily usage (accounts) --
    def delete_user(self, user_id: str) -> UserRecord | None:
        """In one step: remove the profile, its email and phone claims, and queue a purge; None if absent."""

    def pending_purges(self) -> list[PurgeJob]:
        """Deleted accounts whose remaining data is still to be purged, oldest first."""

    def purge_user_records(self, user_id: str) -> None:
        """Remove every record left of a deleted user (sessions, history, usage...); idempotent."""

    def finish_purge(self, user_id: str) -> None: ...

    def add_usage(self, user_id: str, day: str, model: str, counts: dict[str, int]) -> None:
        """Atomically add counts (UsageRow fields) to the user's row for a UTC day (YYYY-MM-DD) and model."""

    def usage_rows(self, user_id: str, first_day: str) -> list[UsageRow]:
        """The user's rows from `first_day` on, by day then model."""

    # -- checkpoints (undo) --
    def put_checkpoint(self, user_id: str, record: CheckpointRecord) -> None:
        """Store one turn's checkpoint (kept at most CHECKPOINT_MAX_AGE_S)."""

    def recent_checkpoints(self, user_id: str, limit: int) -> list[CheckpointRecord]:
        """The newest `limit` checkpoints, newest first."""

    def mark_checkpoint_undone(self, user_id: str, turn_id: str, undone: dict[str, Any] | None) -> bool:
        """Set `undone` only if not set yet (True if this call set it); None clears it. Atomic."""

    def delete_checkpoints(self, user_id: str, turn_ids: list[str]) -> None: ...


class FileStore(Protocol):
    """Workspace files of every user; paths arrive validated (relative, normalised, '/'-separated)."""

    def list_files(self, user_id: str) -> list[FileInfo]:
        """Every file and folder in the workspace, recursively, sorted by path."""

    def read_bytes(self, user_id: str, path: str) -> bytes: ...
    def open_read(self, user_id: str, path: str) -> BinaryIO: ...

    def write_bytes(self, user_id: str, path: str, data: bytes) -> FileInfo:
        """Atomic: readers see the old or the new content, never a part."""

    def delete(self, user_id: str, path: str) -> None:
        """Delete a file, or a folder with everything in it; NotFoundError if absent."""

    def rename(self, user_id: str, src: str, dst: str) -> None: ...
    def make_dir(self, user_id: str, path: str) -> None: ...
    def usage_bytes(self, user_id: str) -> int: ...

    def local_root(self, user_id: str) -> Path | None:
        """The workspace folder on this host (local backend), or None (S3)."""

    # -- account deletion (accounts) --
    def purge_user(self, user_id: str) -> None:
        """Remove everything stored under the user (workspace, checkpoints; on S3 every version); idempotent."""


class KeyCipher(Protocol):
    """Encrypts Gemini keys bound to a user id: a ciphertext never decrypts for another user."""

    def encrypt(self, user_id: str, plaintext: str) -> str: ...

    def decrypt(self, user_id: str, ciphertext: str) -> str:
        """Raise KeyDecryptError on a corrupted or foreign ciphertext."""


@dataclass
class Backend:
    """The three storage parts, built once per process by `open_backend(settings)`."""

    records: RecordStore
    files: FileStore
    cipher: KeyCipher


# -- account deletion and daily usage (accounts) ---------------------------------------------
@dataclass
class PurgeJob:
    """A deleted account whose data is still being removed; `phone` was its linked number."""

    user_id: str
    queued_at: float
    phone: str | None = None


USAGE_COUNTS = ("tokens_in", "tokens_out", "tokens_thinking", "requests")


@dataclass
class UsageRow:
    """One user's usage on one UTC day with one model."""

    day: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_thinking: int = 0
    requests: int = 0
