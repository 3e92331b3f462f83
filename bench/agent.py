"""Agent benchmark: the cost of one chat turn outside the model, with 100 history messages and 1,000 files.

The fake Gemini server answers at once, so the time measured is ours: key decryption, history,
workspace listing, context building, the google-genai client and HTTP round trip, saving the turn
and usage. The bare model round trip (same request, no DELTA3 work) is printed alongside, so the
overhead can be read off. On the AWS backend (moto's HTTP server, reached through AWS_ENDPOINT_URL)
it also counts the AWS requests one turn makes, with botocore's before-send event.

Run: python bench/agent.py [--turns 50] [--files 1000] [--messages 100] [--backends local,aws-server]
Targets: local p50 <= 50 ms; AWS requests per turn <= 10. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from delta3_core import accounts, history, keys  # noqa: E402
from delta3_core.agent import chat, collect  # noqa: E402
from delta3_core.agent.context import history_contents  # noqa: E402
from delta3_core.agent.model import GeminiModel  # noqa: E402
from delta3_core.config import load_settings  # noqa: E402
from delta3_core.services import Services  # noqa: E402
from delta3_core.storage import open_backend  # noqa: E402
from delta3_core.storage.base import Message  # noqa: E402
from tests.fixtures.gemini import FakeGemini, gemini_text  # noqa: E402
from tests.fixtures.storage import TEST_SECRET  # noqa: E402

PASSWORD = "Bench-Password-42!"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def prepare(services: Services, files: int, messages: int) -> str:
    """A user with a key, `messages` of history and `files` workspace files; returns the user id."""
    backend = services.backend
    user = accounts.register(backend, f"bench-{time.time_ns()}@example.com", PASSWORD)
    keys.set_gemini_key(backend, user.user_id, "bench-key")
    for start in range(0, messages, 50):
        history.append(backend, user.user_id, [
            Message("user" if i % 2 == 0 else "assistant", f"message {i}: " + "lorem ipsum " * 20)
            for i in range(start, min(messages, start + 50))])
    for i in range(files):
        backend.files.write_bytes(user.user_id, f"src/module_{i // 100}/file_{i}.py", b"x = 1\n" * 20)
    return user.user_id


def time_turns(services: Services, user_id: str, turns: int) -> list[float]:
    """Wall time in ms of `turns` chat turns (after one warm-up turn)."""
    collect(chat(services, user_id, "warm up"))
    times = []
    for i in range(turns):
        start = time.perf_counter()
        reply = collect(chat(services, user_id, f"question {i}"))
        times.append((time.perf_counter() - start) * 1000)
        if reply.error:
            raise SystemExit(f"turn failed: {reply.error}")
    return times


def time_bare_model(services: Services, user_id: str, turns: int) -> list[float]:
    """Wall time in ms of the same model round trip without any DELTA3 work around it."""
    contents = history_contents(history.context(services.backend, user_id))
    model = GeminiModel("bench-key", services.settings.model)
    times = []
    for _ in range(turns):
        start = time.perf_counter()
        list(model.stream(contents, "system", []))
        times.append((time.perf_counter() - start) * 1000)
    return times


def bench_local(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings(environ={}, data_dir=Path(data_dir), secret_key=TEST_SECRET)
        services = Services(settings, open_backend(settings))
        user_id = prepare(services, args.files, args.messages)
        turn = time_turns(services, user_id, args.turns)
        bare = time_bare_model(services, user_id, args.turns)
        p50, bare50 = statistics.median(turn), statistics.median(bare)
        print(f"local: chat turn p50 {p50:.1f} ms, p90 {percentile(turn, 90):.1f} ms "
              f"({args.messages} history messages, {args.files} files; target p50 <= 50 ms: "
              f"{'met' if p50 <= 50 else 'MISSED'})")
        print(f"local: bare model round trip p50 {bare50:.1f} ms -> DELTA3 overhead p50 {p50 - bare50:.1f} ms "
              f"(ratio turn/bare {p50 / bare50:.1f}x)")


def bench_aws(args: argparse.Namespace) -> None:
    import boto3

    from bench.moto_server import start_moto_server

    server = start_moto_server("eu-west-1")
    calls: collections.Counter[str] = collections.Counter()

    def count(event_name: str, **_kwargs) -> None:
        calls[event_name.split(".", 1)[1]] += 1  # "before-send.s3.ListObjectsV2" -> "s3.ListObjectsV2"

    boto3.setup_default_session()  # every boto3.client(...) made from now on reports to `count`
    boto3.DEFAULT_SESSION.events.register("before-send", count)
    try:
        from delta3_core.bootstrap import bootstrap_aws

        name = f"delta3-bench-{os.getpid()}"
        resources = bootstrap_aws(name=name, bucket=f"{name}-ws")
        with tempfile.TemporaryDirectory() as data_dir:
            settings = load_settings(environ={}, data_dir=Path(data_dir), secret_key=TEST_SECRET, backend="aws",
                                     bucket=resources.bucket, table=resources.table,
                                     kms_key_id=resources.kms_key_id)
            services = Services(settings, open_backend(settings))
            user_id = prepare(services, args.files, args.messages)
            collect(chat(services, user_id, "warm up"))
            calls.clear()
            turns = max(1, min(args.turns, 10))
            times = time_turns(services, user_id, turns)
            per_turn = sum(calls.values()) / (turns + 1)  # time_turns adds its own warm-up turn
            detail = ", ".join(f"{op} {n / (turns + 1):g}" for op, n in sorted(calls.items()))
            print(f"aws (moto server): {per_turn:g} AWS requests per turn (target <= 10: "
                  f"{'met' if per_turn <= 10 else 'MISSED'}): {detail}")
            print(f"aws (moto server): chat turn p50 {statistics.median(times):.1f} ms (moto on this host)")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--backends", default="local,aws-server")
    args = parser.parse_args()
    fake = FakeGemini()
    fake.default_reply = gemini_text("Done.")
    os.environ["GOOGLE_GEMINI_BASE_URL"] = fake.base_url
    try:
        for backend in args.backends.split(","):
            {"local": bench_local, "aws-server": bench_aws}[backend.strip()](args)
    finally:
        fake.close()


if __name__ == "__main__":
    main()
