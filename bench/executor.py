"""Benchmark: p50 of execute_python("pass") through the local executor vs a bare `python3 -I -c pass`;
then of `import pandas` (a user's first run, and a repeat run whose sandbox pre-imported it).

Run: python bench/executor.py [runs]   (target: ratio <= 1.3; printed, not asserted)
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from delta3_core.config import load_settings  # noqa: E402
from delta3_core.executor import make_executor, sandbox_status  # noqa: E402
from delta3_core.executor.local.zygote import POOL  # noqa: E402
from delta3_core.executor.supervisor.environment import RUN_PYTHON  # noqa: E402
from delta3_core.storage import open_backend  # noqa: E402


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main(runs: int = 40) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="delta3-bench-"))
    try:
        settings = load_settings(environ={}, data_dir=data_dir, secret_key="bench-" + "x" * 40)
        print(sandbox_status(settings))
        executor = make_executor(settings, open_backend(settings))
        executor.run("bench", "python", "pass")  # warm-up: sandbox probe, folders, page cache
        bare, sandboxed, cold = [], [], []
        for i in range(runs):  # interleaved, so background load hits both alike
            start = time.perf_counter()
            subprocess.run([RUN_PYTHON, "-I", "-c", "pass"], check=True)
            bare.append(time.perf_counter() - start)
            start = time.perf_counter()
            result = executor.run("bench", "python", "pass")
            sandboxed.append(time.perf_counter() - start)
            assert result.exit_code == 0, result.message
            start = time.perf_counter()
            executor.run(f"cold{i}", "python", "pass")  # a user's first run: no sandbox started ahead
            cold.append(time.perf_counter() - start)
            time.sleep(0.05)  # let the next warm sandbox start, as it does between a user's real runs
        print(f"bare python3 -I -c pass        p50 {p50(bare):7.1f} ms")
        print(f"executor python 'pass' (bwrap) p50 {p50(sandboxed):7.1f} ms")
        print(f"executor, user's first run     p50 {p50(cold):7.1f} ms  ({p50(cold) / p50(bare):.2f}x)")
        print(f"ratio (warm)                       {p50(sandboxed) / p50(bare):5.2f}x  (target <= 1.3x)")
        bench_pandas(executor, max(3, runs // 8))
    finally:
        POOL.clear()
        shutil.rmtree(data_dir, ignore_errors=True)


def bench_pandas(executor, runs: int) -> None:
    """`import pandas` in a run: a user's first run, and a repeat run (whose sandbox pre-imported it)."""
    code = "import pandas"
    bare, cold, warm = [], [], []
    executor.run("pandas-user", "python", code)  # this user's last run imported pandas
    for i in range(runs):
        time.sleep(2)  # a model turn lies between a user's runs: the next sandbox is ready by then
        start = time.perf_counter()
        subprocess.run([RUN_PYTHON, "-I", "-c", code], check=True)
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert executor.run("pandas-user", "python", code).exit_code == 0
        warm.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert executor.run(f"pandas-cold{i}", "python", code).exit_code == 0
        cold.append(time.perf_counter() - start)
    print(f"bare python3 -c 'import pandas' p50 {p50(bare):7.1f} ms")
    print(f"executor, first run (cold)      p50 {p50(cold):7.1f} ms  ({p50(cold) / p50(bare):.2f}x)")
    print(f"executor, repeat run (warm)     p50 {p50(warm):7.1f} ms  ({p50(warm) / p50(bare):.2f}x; "
          "its sandbox pre-imported pandas)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
