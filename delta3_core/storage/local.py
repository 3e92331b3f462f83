"""The embedded local backend: SQLite records, a folder per user, AES-GCM key cipher."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Backend
from .ciphers import LocalKeyCipher, rotate_local_keys
from .localfiles import LocalFileStore
from .sqlite import SqliteRecordStore

if TYPE_CHECKING:
    from delta3_core.config import Settings

DB_FILE_NAME = "delta3.sqlite3"

__all__ = ["DB_FILE_NAME", "LocalFileStore", "LocalKeyCipher", "SqliteRecordStore", "open_local",
           "rotate_local_keys"]


def open_local(settings: Settings) -> Backend:
    """The local backend in settings.data_dir (created 0700 if missing)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Backend(
        records=SqliteRecordStore(settings.data_dir / DB_FILE_NAME),
        files=LocalFileStore(settings.data_dir),
        cipher=LocalKeyCipher(settings.secret_key, settings.old_secret_keys),
    )
