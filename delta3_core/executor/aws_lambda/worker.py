"""The executor Lambda's worker: run one event's code against the user's S3 workspace, and answer.

No bwrap inside Lambda: the run gets the same rlimits, its own process group, a wall clock, a cleared
environment, and a sweep of stray processes and /tmp residue before and after. Isolation between users
comes from Lambda itself (TenancyConfig PER_TENANT: one user per execution environment).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

from ...errors import Delta3Error
from ..contract import ExecutorError, Limits, RunResult, ValidationError
from ..supervisor import procfs
from ..supervisor.environment import RUN_PYTHON, command_for, run_environment
from ..supervisor.fontlist import FONTLIST_GLOB, fontlist_if_ready, seed_matplotlib_cache
from ..supervisor.outcome import to_result
from ..supervisor.process import supervise, wait_gone
from ..supervisor.uids import hand_over, host_uid
from ..sync.synced_run import synced_run
from .protocol import MAX_OUTPUT_KB, fit_result, parse_event

MARKER = "DELTA3_RUN_MARKER"
CACHE_NAME = "delta3-cache"
LAMBDA_PATH = "/var/lang/bin:/usr/local/bin:/usr/bin:/bin"
PREBUILT_FONTLIST_DIR = "/opt/delta3/matplotlib"  # made by executor_lambda/Dockerfile


def in_lambda() -> bool:
    """True inside a real Lambda execution environment (never in tests or on a laptop)."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def tmp_root() -> Path:
    """The folder wiped between runs: /tmp in Lambda; elsewhere a private folder, never the host's /tmp."""
    configured = os.environ.get("DELTA3_LAMBDA_TMP_ROOT")
    root = Path(configured) if configured else Path("/tmp") if in_lambda() else Path("/tmp/delta3-lambda")
    root.mkdir(parents=True, exist_ok=True)
    return root


def harden_process() -> None:
    """Make this process non-dumpable so code it runs cannot read its memory or /proc/<pid>/environ."""
    if in_lambda():
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4


def execute_event(event: Any) -> dict[str, Any]:
    """Handle one event: {"ok": true, "result": {...}} or {"ok": false, "error": ..., "message": ...}."""
    try:
        request = parse_event(event)
    except ValidationError as error:
        return {"ok": False, "error": "ValidationError", "message": str(error)}
    limits = Limits.from_dict(request.get("limits") or {})
    limits = Limits.from_dict({**limits.to_dict(), "output_kb": min(limits.output_kb, MAX_OUTPUT_KB)})
    root = tmp_root()
    marker = uuid.uuid4().hex
    sweep(root, None)
    try:
        result = synced_run(
            _s3_client(request["storage"]), request["storage"]["bucket"], request["user_id"], root / CACHE_NAME,
            lambda folder: run_plain(folder, request["kind"], request["source"], limits, root, marker),
            run_id=marker,
        )
    except Delta3Error as error:
        return {"ok": False, "error": type(error).__name__, "message": str(error)}
    finally:
        sweep(root, marker)
    return {"ok": True, "result": fit_result(result.to_dict())}


def _s3_client(storage: dict[str, Any]) -> Any:
    import boto3
    from botocore.config import Config

    creds = storage["credentials"]
    return boto3.client(
        "s3", aws_access_key_id=creds["access_key_id"], aws_secret_access_key=creds["secret_access_key"],
        aws_session_token=creds.get("session_token"), region_name=storage.get("region") or None,
        endpoint_url=storage.get("endpoint_url") or None,
        config=Config(max_pool_connections=32, retries={"mode": "standard"}),
    )


def run_plain(folder: Path, kind: str, source: str, limits: Limits, root: Path, marker: str) -> RunResult:
    """Run the code with rlimits only (no bwrap in Lambda), with a fresh TMPDIR and a marked environment."""
    run_tmp = root / "run-tmp"
    run_tmp.mkdir(exist_ok=True)
    python = os.environ.get("DELTA3_SANDBOX_PYTHON") or (sys.executable if in_lambda() else RUN_PYTHON)
    argv = command_for(kind, source, python=python, shell="/bin/sh")
    # The image installs the libraries into the runtime's own site-packages: no PYTHONPATH needed.
    run_cache = root / "run-cache"  # swept with run-tmp before and after every run
    run_cache.mkdir(exist_ok=True)
    env = run_environment(str(folder), tmpdir=str(run_tmp), cachedir=str(run_cache), path=LAMBDA_PATH,
                          **{MARKER: marker})
    seed_matplotlib_cache(run_cache, _prebuilt_fontlist() or fontlist_if_ready(python))
    uid = host_uid(sandboxed=False)  # only when run as root (tests): unprivileged, so NPROC applies
    if uid is not None:
        hand_over(folder, uid)
        hand_over(run_tmp, uid)
        hand_over(run_cache, uid)
    try:
        outcome = supervise(argv, env=env, cwd=str(folder), limits=limits, watch_dir=folder, as_uid=uid)
    except OSError as error:
        raise ExecutorError(f"The code could not be started: {error.strerror or error}.") from None
    finally:
        kill_strays(marker)  # before the push: a leftover could swap a file for a link to the handler's files
    return to_result(outcome, limits)


def _prebuilt_fontlist() -> Path | None:
    """The matplotlib font list the image built (executor_lambda/Dockerfile), if there is one."""
    return next(iter(sorted(Path(PREBUILT_FONTLIST_DIR).glob(FONTLIST_GLOB))), None)


def kill_strays(marker: str | None) -> None:
    """SIGKILL every process a run left behind (its marker; in Lambda, anything with our uid)."""
    keep = procfs.ancestors(os.getpid())
    entry = f"{MARKER}={marker}" if marker else None
    killed = []
    for pid in procfs.pids():
        if pid in keep:
            continue
        if (entry and procfs.has_environ_entry(pid, entry)) or (in_lambda() and procfs.owner_uid(pid) == os.getuid()):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    for pid in killed:
        wait_gone(pid, timeout_s=1.0)


def sweep(root: Path, marker: str | None) -> None:
    """Kill stray processes and wipe run residue, so nothing survives into the next run."""
    kill_strays(marker)
    for entry in list(root.iterdir()):
        if entry.name != CACHE_NAME:
            _remove(entry)
    if in_lambda():
        for entry in Path("/dev/shm").glob("*"):
            _remove(entry)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
