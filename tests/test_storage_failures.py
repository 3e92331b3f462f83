"""A store failing part-way through an operation: a plain StorageError, and nothing half-written kept."""

from __future__ import annotations

import errno
import os
import sqlite3
import time

import pytest

from delta3_core.errors import StorageError
from delta3_core.storage.base import Message, UserRecord
from delta3_core.storage.sqlite import SqliteRecordStore
from tests.fixtures.storage import FailingClient

ERRORS = ["client", "connection"]


def user(user_id="u1", email="ada@example.com"):
    return UserRecord(user_id=user_id, email=email, password_hash="$2b$hash", created_at=time.time())


def assert_plain(error: StorageError):
    text = str(error)
    assert "injected" not in text and "aws.invalid" not in text and "disk I/O" not in text
    assert text.endswith(".") and "\n" not in text


# -- DynamoDB -----------------------------------------------------------------------------
@pytest.mark.parametrize("error", ERRORS)
def test_create_user_failure_leaves_no_user_or_email_claim(moto_backend, error):
    records = moto_backend.records
    real = records.client
    records.client = FailingClient(real, fail_on=1, operations={"transact_write_items"}, error=error)
    with pytest.raises(StorageError) as caught:
        records.create_user(user())
    assert_plain(caught.value)
    records.client = real
    assert records.get_user("u1") is None and records.find_user_by_email("ada@example.com") is None
    records.create_user(user(user_id="u2"))  # the email was not left claimed
    assert records.find_user_by_email("ada@example.com").user_id == "u2"


@pytest.mark.parametrize("fail_on", [1, 2])
def test_append_failure_leaves_no_orphan_messages(moto_backend, fail_on):
    records = moto_backend.records
    records.append_messages("u1", [Message("user", "before")])
    real = records.client
    records.client = FailingClient(real, fail_on=fail_on)  # 1: the seq counter, 2: the message write
    with pytest.raises(StorageError):
        records.append_messages("u1", [Message("user", "lost question"), Message("assistant", "lost answer")])
    records.client = real
    assert [m.content for m in records.recent_messages("u1", 20)] == ["before"]
    records.append_messages("u1", [Message("user", "after")])
    got = records.recent_messages("u1", 20)
    assert [m.content for m in got] == ["before", "after"] and got[0].seq < got[1].seq


def test_email_change_failure_keeps_old_email(moto_backend):
    records = moto_backend.records
    records.create_user(user())
    real = records.client
    records.client = FailingClient(real, fail_on=1, operations={"transact_write_items"})
    with pytest.raises(StorageError):
        records.update_user("u1", email="new@example.com", model="m2")
    records.client = real
    assert records.find_user_by_email("ada@example.com").user_id == "u1"
    assert records.find_user_by_email("new@example.com") is None
    assert records.get_user("u1").model is None


def test_link_phone_failure_claims_nothing(moto_backend):
    records = moto_backend.records
    records.create_user(user())
    real = records.client
    records.client = FailingClient(real, fail_on=1, operations={"transact_write_items"}, error="connection")
    with pytest.raises(StorageError):
        records.link_phone("+15550001111", "u1")
    records.client = real
    assert records.get_phone_user("+15550001111") is None and records.get_user("u1").phone is None


# -- S3 -----------------------------------------------------------------------------------
@pytest.mark.parametrize("error", ERRORS)
def test_failed_overwrite_keeps_old_content(moto_backend, error):
    files = moto_backend.files
    files.write_bytes("u1", "main.py", b"old")
    real = files.client
    files.client = FailingClient(real, fail_on=1, operations={"put_object"}, error=error)
    with pytest.raises(StorageError) as caught:
        files.write_bytes("u1", "main.py", b"new content")
    assert_plain(caught.value)
    files.client = real
    assert files.read_bytes("u1", "main.py") == b"old"


@pytest.mark.parametrize("operation,fail_on", [("copy_object", 2), ("delete_objects", 1)])
def test_failed_folder_rename_leaves_source_whole_and_no_copies(moto_backend, operation, fail_on):
    files = moto_backend.files
    for name in ("a.py", "b.py", "c.py"):
        files.write_bytes("u1", f"pkg/{name}", name.encode())
    real = files.client
    files.client = FailingClient(real, fail_on=fail_on, operations={operation})
    with pytest.raises(StorageError):
        files.rename("u1", "pkg", "lib")
    files.client = real
    assert [(f.path, f.is_dir) for f in files.list_files("u1")] == [
        ("pkg", True), ("pkg/a.py", False), ("pkg/b.py", False), ("pkg/c.py", False)]


# -- KMS ----------------------------------------------------------------------------------
@pytest.mark.parametrize("error", ERRORS)
def test_kms_outage_is_a_storage_error_not_a_bad_key(moto_backend, error):
    cipher = moto_backend.cipher
    ciphertext = cipher.encrypt("u1", "AIzaSyExample-key")
    real = cipher.client
    cipher.client = FailingClient(real, fail_on=1, error=error)
    with pytest.raises(StorageError) as caught:
        cipher.decrypt("u1", ciphertext)
    assert "AIzaSy" not in str(caught.value)
    cipher.client = FailingClient(real, fail_on=1, error=error)
    with pytest.raises(StorageError):
        cipher.encrypt("u1", "AIzaSyExample-key")


# -- SQLite -------------------------------------------------------------------------------
class FlakyConnection(sqlite3.Connection):
    """A SQLite connection whose statement containing `fail_when` raises, as a disk I/O error would."""

    fail_when: str | None = None

    def execute(self, sql, *args):
        if self.fail_when and self.fail_when in sql:
            raise sqlite3.OperationalError("disk I/O error")
        return super().execute(sql, *args)

    def executemany(self, sql, *args):
        if self.fail_when and self.fail_when in sql:
            raise sqlite3.OperationalError("disk I/O error")
        return super().executemany(sql, *args)


@pytest.fixture
def flaky_records(tmp_path):
    FlakyConnection.fail_when = None
    records = SqliteRecordStore(tmp_path / "db.sqlite3", connection_factory=FlakyConnection)
    yield records
    FlakyConnection.fail_when = None
    records.close()


def test_sqlite_failure_mid_append_keeps_no_messages(flaky_records):
    flaky_records.append_messages("u1", [Message("user", "before")])
    FlakyConnection.fail_when = "DELETE FROM messages"  # after the inserts, inside the same transaction
    with pytest.raises(StorageError) as caught:
        flaky_records.append_messages("u1", [Message("user", "lost"), Message("assistant", "lost too")])
    assert_plain(caught.value)
    FlakyConnection.fail_when = None
    assert [m.content for m in flaky_records.recent_messages("u1", 20)] == ["before"]
    assert flaky_records.append_messages("u1", [Message("user", "after")])[0].seq == 2


def test_sqlite_failure_mid_link_phone_claims_nothing(flaky_records):
    flaky_records.create_user(user())
    FlakyConnection.fail_when = "UPDATE users SET phone"  # after the phone row was inserted
    with pytest.raises(StorageError):
        flaky_records.link_phone("+15550001111", "u1")
    FlakyConnection.fail_when = None
    assert flaky_records.get_phone_user("+15550001111") is None and flaky_records.get_user("u1").phone is None


def test_sqlite_failure_mid_update_changes_nothing(flaky_records):
    flaky_records.create_user(user())
    FlakyConnection.fail_when = "SELECT * FROM users WHERE user_id"  # after the UPDATE ran
    with pytest.raises(StorageError):
        flaky_records.update_user("u1", model="m2", email="new@example.com")
    FlakyConnection.fail_when = None
    stored = flaky_records.get_user("u1")
    assert (stored.model, stored.email) == (None, "ada@example.com")


# -- local files --------------------------------------------------------------------------
@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_local_write_failure_keeps_old_file_and_no_temp(local_backend, monkeypatch, step):
    files = local_backend.files
    files.write_bytes("u1", "notes.txt", b"old notes")

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, step, disk_full)
    with pytest.raises(StorageError, match="disk is full"):
        files.write_bytes("u1", "notes.txt", b"new notes that never fit")
    monkeypatch.undo()
    assert files.read_bytes("u1", "notes.txt") == b"old notes"
    assert os.listdir(files.local_root("u1")) == ["notes.txt"]  # no temp file left behind
