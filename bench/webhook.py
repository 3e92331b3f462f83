"""Benchmark: SMS webhook acknowledgement latency with 50 concurrent senders and a 30 s model.

Starts the real server (`python -m sms_webhook`, waitress) against a fake Gemini that takes
MODEL_DELAY seconds per answer and a fake Twilio Messages API, then has SENDERS phones text
it at once, a few messages each, and prints p50/p99 of the time until Twilio gets its HTTP
answer (Twilio gives up after 15 s). Each message is written to the durable turn queue before
the answer (claim + job in one transaction); the added cost of that write over the bare claim the
webhook made before is measured side by side on the same store and printed per message.
Run: `python bench/webhook.py [--senders 50] [--waits 0.5,5]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from delta3_core import accounts, keys  # noqa: E402
from delta3_core.config import load_settings  # noqa: E402
from delta3_core.storage import open_backend  # noqa: E402
from delta3_core.storage.base import UserRecord  # noqa: E402
from tests.fixtures.gemini import FakeGemini, gemini_text  # noqa: E402
from tests.fixtures.service import start_service  # noqa: E402
from tests.fixtures.storage import TEST_SECRET  # noqa: E402
from tests.fixtures.twilio import (  # noqa: E402
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_URL,
    TWILIO_NUMBER,
    FakeTwilio,
    inbound_form,
    sign,
)

TWILIO_TIMEOUT_S = 15.0


def _make_users(data_dir: str, phones: list[str]) -> None:
    settings = load_settings(environ={}, data_dir=Path(data_dir), secret_key=TEST_SECRET)
    backend = open_backend(settings)
    for i, phone in enumerate(phones):
        # Written directly (no bcrypt): account creation is not what this measures.
        user = UserRecord(user_id=uuid.uuid4().hex, email=f"bench{i}@example.com", password_hash="-",
                          created_at=time.time())
        backend.records.create_user(user)
        accounts.link_phone(backend, user.user_id, phone)
        keys.set_gemini_key(backend, user.user_id, f"AIza-bench-key-{i:04d}-000000000000")


def _post(url: str, body: str, phone: str) -> tuple[float, bool]:
    form = inbound_form(body, phone)
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(),
                                     headers={"X-Twilio-Signature": sign(form)})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        answered = b"<Message>" in response.read()
        assert response.status == 200
    return time.perf_counter() - started, answered


def _run(base: str, phones: list[str], bodies: list[str]) -> list[tuple[float, bool]]:
    def sender(phone: str) -> list[tuple[float, bool]]:
        return [_post(base + "/twilio/webhook", body, phone) for body in bodies]

    with ThreadPoolExecutor(max_workers=len(phones)) as pool:
        return [t for times in pool.map(sender, phones) for t in times]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _report(label: str, results: list[tuple[float, bool]]) -> None:
    times = [t for t, _ in results]
    answered = sum(1 for _, a in results if a)
    print(f"{label:<34} n={len(times):<4} answered inline={answered:<4} p50={_pct(times, 50) * 1000:7.1f} ms  "
          f"p99={_pct(times, 99) * 1000:7.1f} ms  max={max(times) * 1000:7.1f} ms  "
          f"mean={statistics.mean(times) * 1000:7.1f} ms")


def durable_write_cost(data_dir: str, n: int = 300) -> None:
    """Per message: claim + job in one transaction (now) against the bare claim (before), same store, interleaved."""
    from delta3_core.sms.durable import new_job

    settings = load_settings(environ={}, data_dir=Path(data_dir), secret_key=TEST_SECRET)
    records = open_backend(settings).records
    claim_s, enqueue_s = [], []
    for _ in range(n):
        sid = uuid.uuid4().hex
        started = time.perf_counter()
        records.claim(f"sms:sid:bench-claim-{sid}", 3600)
        claim_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        records.enqueue_job(new_job(sid, "+14155550000", TWILIO_NUMBER, "bench message"), f"sms:sid:{sid}", 3600)
        enqueue_s.append(time.perf_counter() - started)
    claim, enqueue = statistics.median(claim_s), statistics.median(enqueue_s)
    print(f"durable write per message (SQLite, n={n}): claim + job {enqueue * 1000:.2f} ms vs bare claim "
          f"{claim * 1000:.2f} ms: added {(enqueue - claim) * 1000:.2f} ms ({enqueue / claim:.2f}x) p50")


def bench_once(args, wait: float) -> None:
    """One server with reply wait `wait`: print ack latency for commands and for chats."""
    gemini, twilio = FakeGemini(), FakeTwilio().start()
    gemini.default_reply = gemini_text("Here is your answer.").later(args.model_delay)
    phones = [f"+1415555{i:04d}" for i in range(args.senders)]
    with tempfile.TemporaryDirectory() as data_dir:
        _make_users(data_dir, phones)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DELTA3_", "TWILIO_"))}
        env.update({"DELTA3_DATA_DIR": data_dir, "DELTA3_SECRET_KEY": TEST_SECRET, "DELTA3_PUBLIC_URL": PUBLIC_URL,
                    "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                    "TWILIO_PHONE_NUMBER": TWILIO_NUMBER, "TWILIO_API_BASE_URL": twilio.base_url,
                    "GOOGLE_GEMINI_BASE_URL": gemini.base_url, "DELTA3_SMS_REPLY_WAIT": str(wait),
                    "DELTA3_SMS_RATE_GLOBAL": "100000", "PYTHONPATH": str(ROOT)})
        proc, base = start_service(env, subprocess.DEVNULL)
        try:
            print(f"\n{args.senders} concurrent senders x {args.rounds} messages, model takes "
                  f"{args.model_delay:.0f} s, DELTA3_SMS_REPLY_WAIT={wait}, DELTA3_SMS_WORKERS=8 (default)")
            commands = _run(base, phones, ["HELP"])
            chats = _run(base, phones, [f"write hello world, version {r}" for r in range(args.rounds)])
            _report("ack latency, HELP (answered inline)", commands)
            _report("ack latency, chat (model busy)", chats)
            p99 = _pct([t for t, _ in chats], 99)
            print(f"chat p99 / 1 s target = {p99:.2f}; p99 / Twilio's 15 s timeout = {p99 / TWILIO_TIMEOUT_S:.3f}")
            durable_write_cost(data_dir)
        finally:
            proc.terminate()
            proc.wait(10)
            gemini.close()
            twilio.stop()


def main() -> None:
    """Run the benchmark for each reply wait and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="messages per sender")
    parser.add_argument("--model-delay", type=float, default=30.0)
    parser.add_argument("--waits", default="0.5,5", help="DELTA3_SMS_REPLY_WAIT values to try (comma-separated)")
    args = parser.parse_args()
    print("webhook bench: real server (python -m sms_webhook, waitress), fake Gemini and fake Twilio over HTTP")
    for wait in (float(w) for w in args.waits.split(",")):
        bench_once(args, wait)


if __name__ == "__main__":
    main()
