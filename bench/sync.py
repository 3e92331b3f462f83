"""Benchmark: workspace sync against moto's S3 server (a separate process, real HTTP).

1. A warm run changing 1 file of a 1,000-file workspace: S3 requests and time, vs a naive run that
   restores everything and uploads everything. Target: <= 3 requests besides the invoke.
2. A cold restore of 1,000 files / 50 MB: parallel (the executor's restore) vs a sequential get loop.
   Target: >= 5x. On localhost moto's CPU is the bottleneck, so it is also measured with a simulated
   round trip per request (--rtt-ms, default 20 ms, typical of S3 within a region).

Run: python bench/sync.py [--files 1000] [--total-mb 50] [--rtt-ms 20]   (printed, not asserted)
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from delta3_core.executor.sync.s3 import S3Sync  # noqa: E402

BUCKET = "delta3-bench"
PREFIX = "users/bench/workspace/"


def start_moto() -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise SystemExit("moto server did not start")


def make_client(endpoint: str, rtt_ms: float = 0.0):
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                          aws_secret_access_key="bench", config=Config(max_pool_connections=32))
    if rtt_ms:
        client.meta.events.register("before-send.s3.*", lambda **kw: time.sleep(rtt_ms / 1000))
    return client


def sequential_restore(client, root: Path) -> int:
    """The naive way: list, then get each object one after another."""
    requests = 0
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX):
        requests += 1
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    for key in keys:
        target = root / key[len(PREFIX):]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        requests += 1
    return requests


def folder(base: Path, name: str) -> tuple[Path, Path]:
    root, scratch = base / name / "ws", base / name / "scratch"
    shutil.rmtree(base / name, ignore_errors=True)
    root.mkdir(parents=True)
    scratch.mkdir()
    return root, scratch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--total-mb", type=float, default=50)
    parser.add_argument("--rtt-ms", type=float, default=20)
    args = parser.parse_args()
    server, endpoint = start_moto()
    base = Path(tempfile.mkdtemp(prefix="delta3-bench-sync-"))
    try:
        client = make_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        size = int(args.total_mb * 1024 * 1024 / args.files)
        src, _ = folder(base, "src")
        for i in range(args.files):
            (src / f"dir{i % 10}").mkdir(exist_ok=True)
            (src / f"dir{i % 10}" / f"file{i}.bin").write_bytes(os.urandom(size))
        print(f"workspace: {args.files} files, {args.files * size / 1e6:.1f} MB, moto server at {endpoint}")
        S3Sync(client, BUCKET, PREFIX, workers=16).push(src, {})

        # 1. warm run changing one file
        root, scratch = folder(base, "warm")
        manifest = S3Sync(client, BUCKET, PREFIX).restore(root, {}, scratch)
        warm = S3Sync(client, BUCKET, PREFIX)
        start = time.perf_counter()
        manifest = warm.restore(root, manifest, scratch)
        (root / "dir3" / "file3.bin").write_bytes(os.urandom(size))
        report = warm.push(root, manifest)
        warm_s = time.perf_counter() - start
        assert report.changed == ["dir3/file3.bin"]
        naive_root, _ = folder(base, "naive")
        start = time.perf_counter()
        naive_requests = sequential_restore(client, naive_root)
        (naive_root / "dir3" / "file3.bin").write_bytes(os.urandom(size))
        for path in sorted(naive_root.rglob("*.bin")):  # a stateless executor uploads everything back
            client.put_object(Bucket=BUCKET, Key=PREFIX + path.relative_to(naive_root).as_posix(),
                              Body=path.read_bytes())
            naive_requests += 1
        naive_s = time.perf_counter() - start
        print(f"warm run, 1 file changed:  {warm.requests:5d} S3 requests  {warm_s * 1000:8.1f} ms  (target <= 3)")
        print(f"naive restore + upload:    {naive_requests:5d} S3 requests  {naive_s * 1000:8.1f} ms  "
              f"({naive_s / warm_s:.0f}x slower)")

        # 2. cold restore, parallel vs sequential
        for rtt in (0.0, args.rtt_ms):
            timed = make_client(endpoint, rtt)
            seq_root, _ = folder(base, "seq")
            start = time.perf_counter()
            sequential_restore(timed, seq_root)
            seq_s = time.perf_counter() - start
            par_root, par_scratch = folder(base, "par")
            start = time.perf_counter()
            S3Sync(timed, BUCKET, PREFIX, workers=16).restore(par_root, {}, par_scratch)
            par_s = time.perf_counter() - start
            label = f"rtt {rtt:g} ms" if rtt else "localhost"
            print(f"cold restore ({label:>10}): sequential {seq_s:6.2f} s, parallel(16) {par_s:6.2f} s, "
                  f"{seq_s / par_s:4.1f}x  (target >= 5x)")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
