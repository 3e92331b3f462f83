"""Durable turns end to end: the real service killed with SIGKILL mid-work, restarted, every message answered once.

Jobs are caught at each stage: answered by the model with the answer held at Twilio (sent, but
the service died before Twilio said so), running a tool, and accepted but not started (one behind
another of the same phone, one waiting for a free worker). Local (SQLite) and AWS mode (DynamoDB,
S3 and KMS in moto's HTTP server) alike.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from delta3_core import keys
from delta3_core.config import load_settings
from delta3_core.storage import open_backend
from delta3_core.storage.base import UserRecord
from tests.fixtures.gemini import gemini_call, gemini_calls, gemini_text
from tests.fixtures.service import Service, _wait
from tests.fixtures.storage import TEST_SECRET, make_aws_resources, set_fake_aws_env
from tests.fixtures.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_URL,
    TWILIO_NUMBER,
)

ROOT = Path(__file__).resolve().parent.parent
PHONES = {"a": "+14155550101", "b": "+14155550102", "c": "+14155550103"}


@pytest.fixture(params=["local", "aws-server"])
def deployment(request, tmp_path, monkeypatch, fake_twilio, fake_gemini):
    """(settings for this process, environment for the service) on one store: SQLite, or moto's server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DELTA3_", "TWILIO_", "AWS_"))}
    env.update({"DELTA3_SECRET_KEY": TEST_SECRET, "DELTA3_PUBLIC_URL": PUBLIC_URL, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_PHONE_NUMBER": TWILIO_NUMBER,
                "TWILIO_API_BASE_URL": fake_twilio.base_url, "GOOGLE_GEMINI_BASE_URL": fake_gemini.base_url,
                "DELTA3_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT),
                # Two workers; answers go out through the Messages API; a dead worker's lease runs out fast.
                "DELTA3_SMS_WORKERS": "2", "DELTA3_SMS_REPLY_WAIT": "0.01", "DELTA3_TURN_LEASE": "2"})
    if request.param == "aws-server":
        set_fake_aws_env(monkeypatch, endpoint_url=request.getfixturevalue("moto_server"))
        resources = make_aws_resources()
        env.update({k: os.environ[k] for k in os.environ if k.startswith("AWS_")})
        env.update({"DELTA3_BACKEND": "aws", "DELTA3_BUCKET": resources.bucket, "DELTA3_TABLE": resources.table,
                    "DELTA3_KMS_KEY_ID": resources.kms_key_id})
    settings = load_settings(environ={k: v for k, v in env.items() if k.startswith("DELTA3_")})
    return settings, env


def _make_users(backend) -> None:
    for name, phone in PHONES.items():
        user = UserRecord(user_id=uuid.uuid4().hex, email=f"{name}@example.com", password_hash="-",
                          created_at=time.time())
        backend.records.create_user(user)
        backend.records.link_phone(phone, user.user_id)
        keys.set_gemini_key(backend, user.user_id, f"AIza-durable-{name}-0000000000000000")


def test_every_message_accepted_before_a_kill_is_answered_exactly_once_in_order(
        deployment, tmp_path, fake_twilio, fake_gemini, require_sandbox):
    settings, env = deployment
    backend = open_backend(settings)
    records = backend.records
    _make_users(backend)
    service = Service(env, tmp_path / "service.log").start()
    try:
        # Stage "answer ready, not yet sent": Twilio has C's answer, but the service dies before Twilio's reply.
        fake_twilio.hold()
        fake_gemini.enqueue(gemini_text("Answer for C."))
        job_c = service.text(PHONES["c"], "question c")
        fake_twilio.wait_held(1)
        # Stage "running a tool": A's first message is in a code run when the service dies.
        fake_gemini.enqueue(gemini_calls(gemini_call("execute_shell", {"command": "sleep 25"}),
                                         text="Let me check."))
        job_a1 = service.text(PHONES["a"], "question a1")
        _wait(lambda: (records.get_job(job_a1).progress or {}).get("in_flight") == "execute_shell",
              "A's first message to be running its tool")
        # Stage "accepted": A's second message waits behind its first, B's for a free worker.
        job_a2 = service.text(PHONES["a"], "question a2")
        job_b = service.text(PHONES["b"], "question b")
        assert {records.get_job(j).status for j in (job_a2, job_b)} == {"pending"}
        service.kill()
        fake_twilio.release()
        assert [m["to"] for m in fake_twilio.messages] == [PHONES["c"]]

        fake_gemini.enqueue(gemini_text("Done."), gemini_text("Done."))  # a2 and b: the only model calls left
        service.start()
        _wait(lambda: not records.open_jobs(), "every job to be answered")
    finally:
        service.stop()
    sent = {name: [m["body"] for m in fake_twilio.messages if m["to"] == phone] for name, phone in PHONES.items()}
    assert sent["c"] == ["Answer for C."]  # sent once: the restart found it at Twilio and did not send it again
    assert len(sent["a"]) == 2 and sent["a"][1] == "Done."  # in order: a1's answer first
    assert sent["a"][0].startswith("Let me check.") and "interrupted" in sent["a"][0]
    assert "execute_shell" in sent["a"][0]
    assert sent["b"] == ["Done."]
    assert len(fake_gemini.generate_requests) == 4  # a1 was not run again (its tool had started)
    assert fake_gemini.pending() == 0
    finished = {j: records.get_job(j) for j in (job_c, job_a1, job_a2, job_b)}
    assert {j.status for j in finished.values()} == {"done"}
    assert finished[job_a1].note == "interrupted" and finished[job_a1].attempts == 2


def test_api_turns_accepted_before_a_kill_are_answered_once_after_the_restart(
        deployment, tmp_path, fake_gemini, require_sandbox):
    import httpx

    settings, env = deployment
    backend = open_backend(settings)
    records = backend.records
    service = Service(env, tmp_path / "service.log").start()
    try:
        with httpx.Client(base_url=service.base, timeout=30) as anonymous:
            registered = anonymous.post("/auth/register", json={"email": "api@example.com",
                                                                "password": "Correct-horse-9"})
        assert registered.status_code == 201, registered.text
        token = registered.json()["token"]
        user = records.find_user_by_email("api@example.com")
        keys.set_gemini_key(backend, user.user_id, "AIza-durable-api-0000000000000000")
        client = httpx.Client(base_url=service.base, timeout=30, headers={"Authorization": f"Bearer {token}"})
        async_ = {"Prefer": "respond-async"}
        # Stage "running a tool", then stage "accepted" (behind it: one user's turns keep their order).
        fake_gemini.enqueue(gemini_calls(gemini_call("write_file", {"path": "plan.txt", "content": "step 1"}),
                                         gemini_call("execute_shell", {"command": "sleep 25"}),
                                         text="Running it now."))
        first = client.post("/chat/send", json={"message": "run the slow thing"}, headers=async_)
        assert first.status_code == 202, first.text
        first_id = first.json()["turn_id"]
        _wait(lambda: (records.get_job(first_id).progress or {}).get("in_flight") == "execute_shell",
              "the first turn to be running its tool")
        second_id = client.post("/chat/send", json={"message": "and then this"}, headers=async_).json()["turn_id"]
        assert records.get_job(second_id).status == "pending"
        service.kill()

        fake_gemini.enqueue(gemini_text("Second answer."))
        service.start()
        client.base_url = service.base

        def finished(turn_id):
            state = client.get(f"/chat/turns/{turn_id}").json()
            return state if state["status"] == "done" else None

        first_state = _wait(lambda: finished(first_id), "the first turn's answer")
        second_state = _wait(lambda: finished(second_id), "the second turn's answer")
        # The interrupted turn kept its checkpoint (stored after write_file, before the kill), once.
        undone = client.post("/chat/undo")
        assert undone.status_code == 200, undone.text
        assert undone.json()["restored"] == ["plan.txt"]
        assert client.post("/chat/undo").status_code == 409  # nothing else: not recorded twice
        client.close()
    finally:
        service.stop()
    answer = first_state["answer"]
    assert answer["reply"].startswith("Running it now.") and "interrupted" in answer["reply"]
    assert [t["name"] for t in answer["tool_calls"]] == ["write_file", "execute_shell"]
    assert second_state["answer"]["reply"] == "Second answer."
    assert len(fake_gemini.generate_requests) == 2  # the interrupted turn was not run again
    assert "plan.txt" not in [f.path for f in backend.files.list_files(user.user_id)]  # undone: made by the turn
    assert records.get_job(first_id).attempts == 2 and records.get_job(second_id).attempts == 1
    saved = [(m.role, m.content[:15]) for m in records.recent_messages(user.user_id, 10)]
    assert saved[0] == ("user", "run the slow th") and saved[1][0] == "assistant"  # order kept in history
    assert saved[2] == ("user", "and then this")
