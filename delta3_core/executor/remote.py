"""The executor Lambda's logic: validate an event, run the code against the user's S3 workspace, answer.

No bwrap inside Lambda: the run gets the same rlimits, its own process group, a wall clock, a cleared
environment, and a sweep of stray processes and /tmp residue before and after. Isolation between users
comes from Lambda itself (TenancyConfig PER_TENANT: one user per execution environment).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

from ..errors import Delta3Error, ExecutorError, ValidationError
from .base import Limits, RunResult, check_request
from .process import supervise, to_result, wait_gone
from .sandbox import SANDBOX_PYTHON, hand_over, host_uid
from .warm import synced_run, workspace_prefix

EVENT_VERSION = 1
MAX_RESULT_BYTES = 5_500_000  # Lambda's synchronous response limit is 6 MB; keep a margin
MAX_OUTPUT_KB = 1024
MAX_LISTED = 1000
MAX_ITEM_CHARS = 1024  # an S3 key is at most 1024 bytes: a longer path never syncs anyway
LISTS = ("files_changed", "skipped", "sync_failed")
LIST_MARKER = "... and "
MARKER = "DELTA3_RUN_MARKER"
CACHE_NAME = "delta3-cache"


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


def parse_event(event: Any) -> dict[str, Any]:
    """Check the event's shape (documented in executor_lambda/README.md); ValidationError if wrong."""
    if not isinstance(event, dict) or event.get("version") != EVENT_VERSION:
        raise ValidationError(f"The executor event must be an object with version {EVENT_VERSION}.")
    storage = event.get("storage")
    if not isinstance(storage, dict) or not isinstance(storage.get("credentials"), dict):
        raise ValidationError("The executor event has no storage credentials.")
    user_id = event.get("user_id")
    if not isinstance(user_id, str) or storage.get("prefix") != workspace_prefix(user_id):
        raise ValidationError("The executor event's prefix does not belong to its user.")
    check_request(event.get("kind"), event.get("source"))
    if not isinstance(storage.get("bucket"), str):
        raise ValidationError("The executor event has no bucket.")
    return event


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
    python = os.environ.get("DELTA3_SANDBOX_PYTHON") or (sys.executable if in_lambda() else SANDBOX_PYTHON)
    argv = [python, "-c", source] if kind == "python" else ["/bin/sh", "-c", source]
    env = {"HOME": str(folder), "TMPDIR": str(run_tmp), "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8",
           "MPLBACKEND": "Agg", "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin:/bin", MARKER: marker}
    if os.environ.get("LAMBDA_TASK_ROOT"):  # the libraries packaged with the function (numpy, ...)
        env["PYTHONPATH"] = os.environ["LAMBDA_TASK_ROOT"]
    uid = host_uid(sandboxed=False)  # only when run as root (tests): unprivileged, so NPROC applies
    if uid is not None:
        hand_over(folder, uid)
        hand_over(run_tmp, uid)
    try:
        outcome = supervise(argv, env=env, cwd=str(folder), limits=limits, watch_dir=folder, as_uid=uid)
    except OSError as error:
        raise ExecutorError(f"The code could not be started: {error.strerror or error}.") from None
    finally:
        kill_strays(marker)  # before the push: a leftover could swap a file for a link to the handler's files
    return to_result(outcome, limits)


def kill_strays(marker: str | None) -> None:
    """SIGKILL every process a run left behind (its marker; in Lambda, anything with our uid)."""
    keep = _ancestors(os.getpid())
    killed = []
    for pid in _pids():
        if pid in keep:
            continue
        if (marker and _has_marker(pid, marker)) or (in_lambda() and _same_uid(pid)):
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


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _ancestors(pid: int) -> set[int]:
    chain = {pid, 1}
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                pid = int(handle.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        chain.add(pid)
    return chain


def _has_marker(pid: int, marker: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return f"{MARKER}={marker}".encode() in handle.read().split(b"\0")
    except OSError:
        return False


def _same_uid(pid: int) -> bool:
    try:
        return os.stat(f"/proc/{pid}").st_uid == os.getuid()
    except OSError:
        return False


def fit_result(result: dict[str, Any]) -> dict[str, Any]:
    """Keep the answer under Lambda's response limit: long output, lists and paths are cut, with a marker."""
    totals = {name: len(result.get(name) or []) for name in LISTS}
    for name in LISTS:
        result[name] = _listed([_clip_item(str(item)) for item in (result.get(name) or [])[:MAX_LISTED]],
                               totals[name])
    while len(json.dumps(result).encode()) > MAX_RESULT_BYTES:
        shrunk = False
        for stream in ("stdout", "stderr"):
            text = result.get(stream) or ""
            if len(text) > 1024:
                result[stream] = text[: len(text) // 2] + "\n[output truncated to fit the response size limit]"
                result[f"{stream}_truncated"] = shrunk = True
        if shrunk:
            continue
        for name in LISTS:  # output is already small: halve the lists (never loops forever)
            kept = [item for item in result[name] if not item.startswith(LIST_MARKER)]
            result[name] = _listed(kept[: len(kept) // 2], totals[name])
    return result


def _clip_item(item: str) -> str:
    return item if len(item) <= MAX_ITEM_CHARS else item[:MAX_ITEM_CHARS] + "..."


def _listed(items: list[str], total: int) -> list[str]:
    return items + [f"{LIST_MARKER}{total - len(items)} more"] if total > len(items) else items
