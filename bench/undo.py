"""Benchmark: what undo's checkpoints cost a turn, and what an undo costs.

1. Local backend, a 1,000-file workspace: the time the checkpoint adds to a turn that changes one file
   (by write_file, and by a code run, which first checks the workspace for files changed since last
   seen), measured side by side with the same change made without a checkpoint. Target: <= 5 ms.
2. AWS backend on moto's HTTP server, 1,000 files: the extra S3/DynamoDB requests of such a turn
   (target <= 2), and the requests of undoing a turn that changed 10 files (target <= 12).

Run: python bench/undo.py [--files 1000] [--turns 50]   (printed, not asserted)
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from delta3_core import accounts  # noqa: E402
from delta3_core.checkpoints import Recorder, undo_last  # noqa: E402
from delta3_core.config import load_settings  # noqa: E402
from delta3_core.services import Services  # noqa: E402
from delta3_core.storage import open_backend  # noqa: E402
from delta3_core.workspace import Workspace  # noqa: E402
from tests.fixtures.storage import TEST_SECRET  # noqa: E402


def seed(services: Services, files: int) -> tuple[str, Workspace]:
    user = accounts.register(services.backend, f"bench{time.time_ns()}@example.com", "Bench-Password-123")
    ws = Workspace(services.backend, user.user_id, services.settings.quota_bytes)
    for i in range(files):
        ws.write_text(f"src/pkg{i % 20}/module_{i}.py", f"# module {i}\n" + "x = 1\n" * 20)
    return user.user_id, ws


def one_turn(services: Services, user_id: str, ws: Workspace, n: int, how: str, record: bool) -> None:
    """A turn changing src/pkg0/module_0.py once, the way `how` says, with or without a checkpoint."""
    path, text = "src/pkg0/module_0.py", f"# turn {n}\n"
    if not record:
        ws.write_text(path, text)
        return
    recorder = Recorder(services, user_id, "web", f"turn {n}")
    if how == "write_file":
        with recorder.changing([path]):
            ws.write_text(path, text)
    else:  # a code run: its change happens in between, then the run reports the paths it changed
        with recorder.running() as run:
            ws.write_text(path, text)
            run.paths = [path]
    recorder.commit()


def bench_local(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings(environ={}, data_dir=Path(data_dir), secret_key=TEST_SECRET)
        services = Services(settings, open_backend(settings))
        user_id, ws = seed(services, args.files)
        for how in ("write_file", "code run"):
            one_turn(services, user_id, ws, 0, how, True)  # the first turn keeps a copy of every file, once
            plain, recorded = [], []
            for n in range(args.turns):  # side by side, alternating, so drift hits both alike
                for record, times in ((False, plain), (True, recorded)):
                    start = time.perf_counter()
                    one_turn(services, user_id, ws, n, how, record)
                    times.append((time.perf_counter() - start) * 1000)
            extra = statistics.median(recorded) - statistics.median(plain)
            print(f"local, {args.files} files, 1-file change by {how}: {statistics.median(recorded):.2f} ms with "
                  f"a checkpoint vs {statistics.median(plain):.2f} ms without (p50): +{extra:.2f} ms "
                  f"(target <= 5 ms: {'met' if extra <= 5 else 'MISSED'})")
        start = time.perf_counter()
        ten_file_turn(services, user_id, ws)
        undo_last(services, user_id, "web")
        print(f"local: undo of a 10-file turn {(time.perf_counter() - start) * 1000:.1f} ms (turn included)")
        services.backend.records.close()


def ten_file_turn(services: Services, user_id: str, ws: Workspace) -> None:
    recorder = Recorder(services, user_id, "web", "ten files")
    with recorder.running() as run:
        run.paths = [f"src/pkg{i}/module_{i}.py" for i in range(10)]
        for path in run.paths:
            ws.write_text(path, "# rewritten by a run\n")
    recorder.commit()


def bench_aws(args: argparse.Namespace) -> None:
    import boto3

    from bench.moto_server import start_moto_server

    server = start_moto_server("us-east-1")
    calls: collections.Counter[str] = collections.Counter()
    boto3.setup_default_session()  # every boto3.client(...) made from now on reports to the counter
    boto3.DEFAULT_SESSION.events.register("before-send", lambda event_name, **_: calls.update(
        [event_name.split(".", 1)[1]]))
    try:
        from delta3_core.bootstrap import bootstrap_aws

        name = f"delta3-bench-{os.getpid()}"
        resources = bootstrap_aws(name=name, bucket=f"{name}-ws", log=lambda _line: None)
        with tempfile.TemporaryDirectory() as data_dir:
            settings = load_settings(environ={}, data_dir=Path(data_dir), secret_key=TEST_SECRET, backend="aws",
                                     bucket=resources.bucket, table=resources.table, kms_key_id=resources.kms_key_id)
            services = Services(settings, open_backend(settings))
            user_id, ws = seed(services, args.files)
            for how in ("write_file", "code run"):
                counts = []
                for record in (False, True):
                    calls.clear()
                    one_turn(services, user_id, ws, 1, how, record)
                    counts.append(sum(calls.values()))
                    detail = ", ".join(f"{op} {n}" for op, n in sorted(calls.items()))
                extra = counts[1] - counts[0]
                print(f"aws (moto server), {args.files} files, 1-file change by {how}: +{extra} requests for the "
                      f"checkpoint ({counts[1]} vs {counts[0]}; with it: {detail}) "
                      f"(target <= 2: {'met' if extra <= 2 else 'MISSED'})")
            ten_file_turn(services, user_id, ws)
            calls.clear()
            result = undo_last(services, user_id, "web")
            total = sum(calls.values())
            detail = ", ".join(f"{op} {n}" for op, n in sorted(calls.items()))
            print(f"aws (moto server): undo of a 10-file turn restored {len(result.restored)} files in {total} "
                  f"requests ({detail}) (target <= 12: {'met' if total <= 12 else 'MISSED'})")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=50)
    args = parser.parse_args()
    bench_local(args)
    bench_aws(args)


if __name__ == "__main__":
    main()
