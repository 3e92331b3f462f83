"""REST API benchmark: what the API adds to a chat turn, and request rates of two cheap endpoints.

1. A chat turn through `POST /chat/send` (the real service, `python -m sms_webhook` under waitress) against
   the same turn called in-process (agent.chat, as the web page does), side by side, with a fake Gemini
   that answers at once. Target: API p50 <= 1.2x the in-process p50.
2. `GET /files/list` (100 files) and `GET /auth/me` at 1, 10 and 50 concurrent clients (keep-alive
   httpx clients in threads of this process, so client and server share the machine): requests per
   second, p50 and p99.

Run: python bench/api.py [--turns 40] [--seconds 4] [--levels 1,10,50]. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.agent import percentile  # noqa: E402
from delta3_core import accounts, keys  # noqa: E402
from delta3_core.agent import chat, collect  # noqa: E402
from delta3_core.config import load_settings  # noqa: E402
from delta3_core.services import Services  # noqa: E402
from delta3_core.storage import open_backend  # noqa: E402
from tests.fixtures.gemini import FakeGemini, gemini_text  # noqa: E402
from tests.fixtures.service import start_service  # noqa: E402
from tests.fixtures.storage import TEST_SECRET  # noqa: E402

PASSWORD = "Bench-Password-42!"


def start_api_service(data_dir: str, gemini_url: str) -> tuple[subprocess.Popen, str]:
    """The HTTP service as the README starts it, with rate limits out of the way."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DELTA3_", "TWILIO_"))}
    env.update({"DELTA3_DATA_DIR": data_dir, "DELTA3_SECRET_KEY": TEST_SECRET, "PYTHONPATH": str(ROOT),
                "GOOGLE_GEMINI_BASE_URL": gemini_url, "DELTA3_API_RATE_PER_TOKEN": "100000000",
                "DELTA3_API_RATE_PER_ACCOUNT": "100000000", "DELTA3_API_RATE_PER_SOURCE": "100000000"})
    return start_service(env, subprocess.DEVNULL)


def chat_overhead(services: Services, user_id: str, client: httpx.Client, turns: int) -> None:
    """Alternate in-process and API turns, so both see the same machine load; print p50s and the ratio."""
    collect(chat(services, user_id, "warm up"))
    client.post("/chat/send", json={"message": "warm up"}).raise_for_status()
    inproc, api = [], []
    for i in range(turns):
        start = time.perf_counter()
        reply = collect(chat(services, user_id, f"in-process {i}"))
        inproc.append((time.perf_counter() - start) * 1000)
        if reply.error:
            raise SystemExit(f"in-process turn failed: {reply.error}")
        start = time.perf_counter()
        client.post("/chat/send", json={"message": f"api {i}"}).raise_for_status()
        api.append((time.perf_counter() - start) * 1000)
    a, b = statistics.median(api), statistics.median(inproc)
    print(f"chat turn, fake model, {turns} each: API p50 {a:.1f} ms vs in-process p50 {b:.1f} ms: "
          f"{a / b:.2f}x (target <= 1.2x); p99 {percentile(api, 99):.1f} vs {percentile(inproc, 99):.1f} ms")


def load(base: str, token: str, path: str, clients: int, seconds: float) -> None:
    """`clients` keep-alive clients hitting `path` for `seconds`; print req/s, p50, p99."""
    times: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def run() -> None:
        mine = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            while time.perf_counter() < stop:
                start = time.perf_counter()
                client.get(path).raise_for_status()
                mine.append((time.perf_counter() - start) * 1000)
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    print(f"GET {path:<12} {clients:>3} clients: {len(times) / elapsed:7.0f} req/s, "
          f"p50 {percentile(times, 50):6.1f} ms, p99 {percentile(times, 99):6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--levels", default="1,10,50")
    args = parser.parse_args()
    gemini = FakeGemini()
    gemini.default_reply = gemini_text("A short answer.")
    os.environ["GOOGLE_GEMINI_BASE_URL"] = gemini.base_url
    with tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings(environ={}, data_dir=Path(data_dir), secret_key=TEST_SECRET)
        services = Services(settings, open_backend(settings))
        user = accounts.register(services.backend, "runner@example.com", PASSWORD)
        keys.set_gemini_key(services.backend, user.user_id, "bench-key")
        for i in range(100):
            services.backend.files.write_bytes(user.user_id, f"src/file_{i}.py", b"x = 1\n" * 20)
        token = accounts.create_session(services.backend, user.user_id)
        proc, base = start_api_service(data_dir, gemini.base_url)
        try:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
                chat_overhead(services, user.user_id, client, args.turns)
            for path in ("/files/list", "/auth/me"):
                for clients in (int(n) for n in args.levels.split(",")):
                    load(base, token, path, clients, args.seconds)
        finally:
            proc.terminate()
            proc.wait(10)
            gemini.close()


if __name__ == "__main__":
    main()
