"""Storage benchmark: newest-20 history read at 100 vs 10,000 stored messages, and listing 1,000 files.

Run: python bench/storage.py [--backends local,aws-server] [--messages 10000] [--files 1000]
The AWS backend runs against moto's HTTP server (ThreadedMotoServer) reached through
AWS_ENDPOINT_URL, as the deployed app reaches AWS. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from delta3_core.config import load_settings  # noqa: E402
from delta3_core.storage import open_backend  # noqa: E402
from delta3_core.storage.base import Message  # noqa: E402

SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
BATCH = 50  # messages per append while filling (one DynamoDB transaction: at most 100 actions)


def median_ms(action, repeats: int) -> float:
    """Median wall time of `action` in milliseconds, after one warm-up call."""
    action()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


@contextmanager
def no_trim():
    """Keep every message while filling, so 10,000 are really stored (the app keeps 100)."""
    with mock.patch("delta3_core.storage.sqlite.HISTORY_KEEP", 10**9), \
            mock.patch("delta3_core.storage.dynamo.HISTORY_KEEP", 10**9):
        yield


def fill_history(backend, user_id: str, count: int) -> None:
    if hasattr(backend.records, "client"):
        return bulk_load_dynamo(backend.records, user_id, count)
    with no_trim():
        for start in range(0, count, BATCH):
            batch = [Message("user" if i % 2 == 0 else "assistant", f"message {i} " + "x" * 200)
                     for i in range(start, min(count, start + BATCH))]
            backend.records.append_messages(user_id, batch)


def bulk_load_dynamo(records, user_id: str, count: int) -> None:
    """Write `count` history items with BatchWriteItem in the store's own layout.

    Only the fill differs: moto deep-copies the whole table for every TransactWriteItems, so
    filling 10,000 messages through append_messages takes moto tens of GB (real DynamoDB does not).
    """
    from delta3_core.storage.dynamo_items import encode_item, item_key, msg_sk

    now = time.time()
    requests = [{"PutRequest": {"Item": {**item_key(f"USER#{user_id}", msg_sk(seq)), **encode_item(
        role="user" if seq % 2 else "assistant", content=f"message {seq} " + "x" * 200, channel="web",
        created_at=now, seq=seq, meta="{}")}}} for seq in range(1, count + 1)]
    for start in range(0, count, 25):
        records._batch_write(requests[start:start + 25])
    records.client.put_item(TableName=records.table, Item={**item_key(f"USER#{user_id}", "SEQ"),
                                                           **encode_item(seq=count)})


def fill_files(backend, user_id: str, count: int) -> None:
    for i in range(count):
        backend.files.write_bytes(user_id, f"dir{i % 10}/file{i:05d}.txt", b"x" * 100)


def measure(backend, messages: int, files: int) -> dict[str, float]:
    fill_history(backend, "small", 100)
    backend.records.append_messages("small", [Message("user", "one more, through the real append path")])
    fill_history(backend, "large", messages)
    assert len(backend.records.recent_messages("large", 20)) == 20
    small = median_ms(lambda: backend.records.recent_messages("small", 20), 30)
    large = median_ms(lambda: backend.records.recent_messages("large", 20), 30)
    fill_files(backend, "files", files)
    assert sum(not f.is_dir for f in backend.files.list_files("files")) == files
    listing = median_ms(lambda: backend.files.list_files("files"), 5)
    return {"small": small, "large": large, "ratio": large / small, "list": listing}


def local_backend(workdir: Path):
    return open_backend(load_settings(environ={}, data_dir=workdir / "local", secret_key=SECRET))


def moto_server_backend(workdir: Path):
    from bench.moto_server import start_moto_server
    from delta3_core.bootstrap import bootstrap_aws

    start_moto_server()
    res = bootstrap_aws(name="delta3-bench", bucket="delta3-bench-ws")
    return open_backend(load_settings(environ={}, data_dir=workdir / "aws", secret_key=SECRET, backend="aws",
                                      table=res.table, bucket=res.bucket, kms_key_id=res.kms_key_id))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="local,aws-server")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=1_000)
    args = parser.parse_args(argv)
    makers = {"local": local_backend, "aws-server": moto_server_backend}
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.backends.split(","):
            started = time.perf_counter()
            figures = measure(makers[name](Path(workdir)), args.messages, args.files)
            rows.append((name, figures, time.perf_counter() - started))
    print(f"\nhistory read = newest 20 of N stored messages (median ms); list = all {args.files} files (median ms)")
    header = f"{'backend':<12}{'read @100':>12}{f'read @{args.messages:,}':>15}{'ratio':>8}{'list':>10}"
    print(header)
    print("-" * len(header))
    for name, f, _ in rows:
        print(f"{name:<12}{f['small']:>12.2f}{f['large']:>15.2f}{f['ratio']:>8.2f}{f['list']:>10.1f}")
    print("(setup + fill time: " + ", ".join(f"{name} {seconds:.0f}s" for name, _, seconds in rows) + ")")


if __name__ == "__main__":
    main()
