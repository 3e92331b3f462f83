"""Account deletion on every backend: nothing of the account is left in SQLite, on disk, in DynamoDB or
in S3 (versions and delete markers included), also when the purge fails halfway and is finished later."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from delta3_core import accounts, history, keys, usage
from delta3_core.accounts import phone_verify, tokens
from delta3_core.checkpoints import Recorder, undoable
from delta3_core.errors import AuthError, StorageError
from delta3_core.services import Services
from delta3_core.sms.durable import new_job
from delta3_core.sms.handlers import more_key
from delta3_core.storage.base import Message
from delta3_core.storage.local import DB_FILE_NAME
from delta3_core.turns.jobs import JobRecord
from delta3_core.workspace import Workspace

PASSWORD = "correct horse 42"
PHONE, OTHER_PHONE = "+14155550100", "+14155550199"


@pytest.fixture
def services(backend, settings):
    return Services(settings, backend)


def make_account(services, email: str, phone: str) -> tuple[str, str]:
    """An account with something in every place: session, phone, key, history, usage, files, pages, codes."""
    backend = services.backend
    user = accounts.register(backend, email, PASSWORD)
    token = accounts.create_session(backend, user.user_id)
    tokens.create_token(backend, user.user_id, "laptop")
    accounts.link_phone(backend, user.user_id, phone)
    keys.set_gemini_key(backend, user.user_id, "AIzaSyTest-0123456789abcdefghij")
    history.append(backend, user.user_id, [Message("user", "hi", "sms"), Message("assistant", "hello", "sms")])
    usage.record_usage(backend, user.user_id, 100, 20, 5, model="gemini-2.5-flash")
    backend.files.write_bytes(user.user_id, "notes/a.txt", b"first")
    backend.files.write_bytes(user.user_id, "notes/a.txt", b"second")  # an older version on S3
    backend.files.write_bytes(user.user_id, "old.txt", b"x")
    backend.files.delete(user.user_id, "old.txt")  # a delete marker on S3
    backend.records.put_value(more_key(phone, user.user_id), "pages", 3600)
    backend.records.put_value(phone_verify.pending_key(user.user_id), "{}", 600)
    accounts.operator_code(services, email)
    add_checkpoint_and_jobs(services, user.user_id, phone)
    return user.user_id, token


def add_checkpoint_and_jobs(services, user_id: str, phone: str) -> None:
    """An undo checkpoint (old content kept), an SMS job from the phone and an API turn job, one finished."""
    ws = Workspace(services.backend, user_id, services.settings.quota_bytes)
    recorder = Recorder(services, user_id, "web", "edit notes")
    with recorder.changing(["notes/a.txt"]):
        ws.write_text("notes/a.txt", "third")
    assert recorder.commit() is not None
    records = services.backend.records
    name = services.backend.records.get_user(user_id).email.split("@")[0]
    sms = new_job(f"SM{name}", phone, "+15005550006", "write a poem")
    api = JobRecord.new(f"api-{name}", "api", f"api:{user_id}", "list my files", user_id=user_id)
    for job in (sms, api):  # the claims name the message, not the account (and expire by themselves)
        assert records.enqueue_job(job, f"api:turn:{job.job_id}", 3600)
    taken = records.lease_job(api, "worker-1", 60)
    taken.status, taken.finished_at, taken.reply = "done", time.time(), {"reply": "two files"}
    records.save_job(taken)


def leftovers(services, user_id: str, *needles: str) -> list[str]:
    """Every stored thing that still names the account (its id, email or phone), in any backend."""
    backend, found = services.backend, []
    needles = (user_id, *needles)
    if hasattr(backend.records, "db_path"):
        db = sqlite3.connect(backend.records.db_path)
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            found += [f"{table}: {row}" for row in db.execute(f"SELECT * FROM {table}")
                      if any(n in str(row) for n in needles)]
        db.close()
        for folder in (backend.files.root / "users" / user_id, backend.files.root / "checkpoints" / user_id):
            if folder.exists():
                found += [f"disk: {path}" for path in folder.rglob("*")] or [f"disk: {folder}"]
    else:
        client = backend.records.client
        for page in client.get_paginator("scan").paginate(TableName=backend.records.table):
            found += [f"dynamodb: {item}" for item in page["Items"] if any(n in json.dumps(item) for n in needles)]
        s3 = backend.files.client
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=backend.files.bucket,
                                                                       Prefix=f"users/{user_id}/"):
            versions = page.get("Versions", []) + page.get("DeleteMarkers", [])
            found += [f"s3: {v['Key']} {v['VersionId']}" for v in versions]
    return found


def test_deletion_leaves_nothing_and_keeps_other_accounts(services):
    ada, ada_token = make_account(services, "ada@example.com", PHONE)
    bob, bob_token = make_account(services, "bob@example.com", OTHER_PHONE)
    found = leftovers(services, ada, "ada@example.com", PHONE)  # the check sees data while it exists
    for kind in ("CKPT#" if "dynamodb" in found[0] else "checkpoints", "write a poem", "list my files"):
        assert any(kind in line for line in found), kind
    with pytest.raises(AuthError):
        accounts.delete_account(services, ada, "wrong password 1")
    assert services.backend.records.get_user(ada) is not None  # a wrong password deletes nothing

    assert accounts.delete_account(services, ada, PASSWORD).complete
    assert leftovers(services, ada, "ada@example.com", PHONE) == []
    assert services.backend.records.pending_purges() == []
    assert accounts.resolve_session(services.backend, ada_token) is None
    assert services.backend.records.list_access_tokens(ada) == []
    with pytest.raises(AuthError):
        accounts.authenticate(services.backend, "ada@example.com", PASSWORD)
    # bob keeps everything
    assert accounts.resolve_session(services.backend, bob_token).user_id == bob
    assert services.backend.files.read_bytes(bob, "notes/a.txt") == b"third"
    assert [r.data["label"] for r in undoable(services, bob)] == ["edit notes"]
    assert [j.job_id for j in services.backend.records.open_jobs()] == ["sms-SMbob"]
    assert services.backend.records.get_job("api-ada") is None
    assert services.backend.records.get_job("api-bob").reply == {"reply": "two files"}
    assert [m.content for m in history.recent(services.backend, bob)] == ["hi", "hello"]
    assert accounts.user_for_phone(services.backend, OTHER_PHONE).user_id == bob
    assert usage.usage_today(services.backend, bob)["total_tokens"] == 125
    # the email and the phone are free: a fresh account with nothing of the old one
    again = accounts.register(services.backend, "ada@example.com", PASSWORD)
    accounts.link_phone(services.backend, again.user_id, PHONE)
    assert again.user_id != ada and history.recent(services.backend, again.user_id) == []
    assert services.backend.files.list_files(again.user_id) == []


def test_a_purge_failing_halfway_leaves_the_account_deleted_and_a_retry_finishes(services, monkeypatch):
    ada, token = make_account(services, "ada@example.com", PHONE)

    def store_down(_user_id):
        raise StorageError("The file store failed; please try again.")

    monkeypatch.setattr(services.backend.files, "purge_user", store_down)
    assert not accounts.delete_account(services, ada, PASSWORD).complete
    # Never half-alive: no login, no session, email and phone free; the files wait in the queue.
    assert services.backend.records.get_user(ada) is None
    assert accounts.resolve_session(services.backend, token) is None
    assert accounts.user_for_phone(services.backend, PHONE) is None
    assert [job.user_id for job in services.backend.records.pending_purges()] == [ada]
    assert any("notes/a.txt" in thing for thing in leftovers(services, ada))

    assert accounts.purge_pending(services) == (0, 1)  # still down: still queued
    monkeypatch.undo()
    assert accounts.purge_pending(services) == (1, 0)
    assert leftovers(services, ada, "ada@example.com", PHONE) == []


def test_a_failing_s3_delete_is_retried_by_the_next_deletion(services, aws_only):
    from tests.fixtures.storage import FailingClient

    ada, _ = make_account(services, "ada@example.com", PHONE)
    bob, _ = make_account(services, "bob@example.com", OTHER_PHONE)
    real = services.backend.files.client
    services.backend.files.client = FailingClient(real, fail_on=1, operations={"delete_objects"})
    assert not accounts.delete_account(services, ada, PASSWORD).complete
    services.backend.files.client = real
    assert accounts.delete_account(services, bob, PASSWORD).complete  # also finishes ada's purge
    assert leftovers(services, ada, "ada@example.com", PHONE) == []
    assert leftovers(services, bob, "bob@example.com", OTHER_PHONE) == []


@pytest.fixture
def aws_only(services):
    if hasattr(services.backend.records, "db_path"):
        pytest.skip("S3 only")


def test_purge_command_finishes_queued_purges(settings, monkeypatch):
    from delta3_core.storage import open_backend

    services = Services(settings, open_backend(settings))
    ada, _ = make_account(services, "ada@example.com", PHONE)
    monkeypatch.setattr(services.backend.files, "purge_user", lambda _id: (_ for _ in ()).throw(StorageError("down")))
    assert not accounts.delete_account(services, ada, PASSWORD).complete
    env = {**os.environ, "DELTA3_DATA_DIR": str(settings.data_dir), "DELTA3_SECRET_KEY": settings.secret_key,
           "DELTA3_BACKEND": "local"}
    done = subprocess.run([sys.executable, "-m", "delta3_core", "purge"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1 deleted account(s) purged; 0 still queued." in done.stdout
    assert not (settings.data_dir / "users" / ada).exists()
    assert (settings.data_dir / DB_FILE_NAME).exists()
