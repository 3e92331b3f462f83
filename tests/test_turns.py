"""The turn runner's recovery rules, on the SMS channel: stale jobs, a turn saved before the crash, `jobs`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from delta3_core import accounts, history, keys
from delta3_core.services import build_services
from delta3_core.sms.channel import SmsChannel
from delta3_core.sms.durable import STALE_TEXT, new_job
from delta3_core.storage.base import Message
from tests.fixtures.gemini import gemini_text
from tests.fixtures.storage import TEST_SECRET
from tests.fixtures.twilio import PHONE, TWILIO_NUMBER

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def channel(sms_settings):
    """An SMS channel without background workers: the test runs each job itself."""
    services = build_services(sms_settings)
    user = accounts.register(services.backend, "turns@example.com", "correct-horse-battery")
    accounts.link_phone(services.backend, user.user_id, PHONE)
    keys.set_gemini_key(services.backend, user.user_id, "AIza-turns-test-key-000000000000")
    channel = SmsChannel(services, workers=False)
    channel.user_id = user.user_id
    return channel


def _accept(channel, body: str, sid: str, **changes):
    job = new_job(sid, PHONE, TWILIO_NUMBER, body)
    for name, value in changes.items():
        setattr(job, name, value)
    assert channel.services.backend.records.enqueue_job(job, f"sms:sid:{sid}", 60)
    return job


def test_a_job_too_old_to_answer_asks_for_the_message_again(channel, fake_twilio, fake_gemini):
    _accept(channel, "what is 2+2?", "SMold", received_at=time.time() - 16 * 60)
    channel.runner.run(channel.runner.next_job())
    assert [m["body"] for m in fake_twilio.wait_for(1)] == [STALE_TEXT]
    assert fake_gemini.generate_requests == []
    assert channel.services.backend.records.get_job("sms-SMold").note == "stale"


def test_a_turn_saved_before_the_crash_is_answered_from_history_not_run_again(channel, fake_twilio, fake_gemini):
    records = channel.services.backend.records
    job = _accept(channel, "what is 2+2?", "SMsaved")
    assert records.lease_job(job, "dead-worker", 0.01)  # the worker that died had started the turn...
    history.append(channel.services.backend, channel.user_id, [  # ...and the turn had saved itself
        Message("user", "what is 2+2?", "sms"), Message("assistant", "It is 4.", "sms")])
    taken = _wait_for_job(channel)
    channel.runner.run(taken)
    assert [m["body"] for m in fake_twilio.wait_for(1)] == ["It is 4."]
    assert fake_gemini.generate_requests == []
    assert len(history.recent(channel.services.backend, channel.user_id)) == 2  # not saved twice


def test_a_crash_before_any_tool_runs_the_turn_again(channel, fake_twilio, fake_gemini):
    records = channel.services.backend.records
    job = _accept(channel, "what is 2+2?", "SMfresh")
    assert records.lease_job(job, "dead-worker", 0.01)
    fake_gemini.enqueue(gemini_text("4"))
    channel.runner.run(_wait_for_job(channel))
    assert [m["body"] for m in fake_twilio.wait_for(1)] == ["4"]
    assert records.get_job("sms-SMfresh").attempts == 2


def _wait_for_job(channel, timeout: float = 10.0):
    """The next job once the dead worker's lease has run out (bounded poll)."""
    deadline = time.monotonic() + timeout
    while (job := channel.runner.next_job()) is None:
        assert time.monotonic() < deadline, "the expired lease was never taken again"
        time.sleep(0.02)
    return job


def test_jobs_command_lists_pending_and_failed_jobs_with_ages_and_no_message_text(channel, sms_settings):
    records = channel.services.backend.records
    _accept(channel, "secret question one", "SM1", received_at=time.time() - 125)
    failed = records.lease_job(_accept(channel, "secret question two", "SM2"), "w", 30)
    failed.status, failed.note, failed.finished_at = "failed", "Twilio refused the message", time.time()
    records.save_job(failed)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DELTA3_")}
    env.update({"DELTA3_DATA_DIR": str(sms_settings.data_dir), "DELTA3_SECRET_KEY": TEST_SECRET,
                "PYTHONPATH": str(ROOT)})
    done = subprocess.run([sys.executable, "-m", "delta3_core", "jobs"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    status, age = lines[1].split()[:2]
    assert status == "pending" and age.startswith("2m")  # accepted 125 s ago
    assert lines[2].startswith("failed") and "Twilio refused the message" in lines[2]
    assert lines[-1] == "1 pending, 0 running, 1 failed"
    assert "secret question" not in done.stdout and PHONE not in done.stdout and PHONE[-4:] in done.stdout


def test_a_message_past_the_daily_limit_gets_one_sms_and_the_job_ends(channel, fake_twilio, fake_gemini):
    from delta3_core import budget, usage

    budget.set_daily_limit(channel.services, channel.user_id, 1000)
    usage.record_usage(channel.services.backend, channel.user_id, 900, 100)
    _accept(channel, "one more poem", "SMlimit")
    channel.runner.run(channel.runner.next_job())
    [sent] = fake_twilio.wait_for(1)
    assert "daily limit of 1,000 tokens" in sent["body"] and "00:00 UTC" in sent["body"]
    assert fake_gemini.generate_requests == [] and channel.runner.next_job() is None  # answered once, done
    assert len(fake_twilio.messages) == 1
    job = channel.services.backend.records.get_job("sms-SMlimit")
    assert job.status == "done" and job.attempts == 1 and list(job.outbox) == ["0"]
    assert history.recent(channel.services.backend, channel.user_id) == []  # a refused message is not kept
