"""A run against an S3 workspace: restore into a (warm, per-user) folder, run, push back. Used by the
local executor on the AWS backend and by the executor Lambda, so both sync the same way."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ...storage.codec import check_user_id, workspace_prefix
from ..contract import ExecutorError, RunResult
from ..supervisor.scan import DEEP_NOTE
from .s3 import S3Sync, SyncReport, load_manifest, save_manifest

if TYPE_CHECKING:
    from delta3_core.storage.base import Backend


@dataclass
class Slot:
    """Where one run's copy of a workspace lives: the folder, its manifest and a scratch dir for downloads."""

    root: Path
    manifest_path: Path
    scratch: Path
    warm: bool


@contextlib.contextmanager
def cache_slot(cache_root: Path, user_id: str) -> Iterator[Slot]:
    """The user's warm folder if no other run holds it, else a throw-away cold folder."""
    base = Path(cache_root) / check_user_id(user_id)
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = os.open(base / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a concurrent run of the same user: work cold, beside it
            cold = Path(tempfile.mkdtemp(prefix="run-", dir=base))
            try:
                yield _slot(cold, warm=False)
            finally:
                shutil.rmtree(cold, ignore_errors=True)
            return
        yield _slot(base, warm=True)
    finally:
        os.close(lock)  # closing releases the flock


def _slot(base: Path, warm: bool) -> Slot:
    root, scratch = base / "workspace", base / "scratch"
    if root.is_symlink():
        root.unlink()
    root.mkdir(exist_ok=True)
    _discard(scratch)  # partial downloads of a crashed run (or, in Lambda, whatever the code put there)
    scratch.mkdir()
    return Slot(root, base / "manifest.json", scratch, warm)


def synced_run(client: Any, bucket: str, user_id: str, cache_root: Path,
               run: Callable[[Path], RunResult], run_id: str | None = None) -> RunResult:
    """Restore the user's workspace, `run(folder)`, then push what changed; the result says what synced."""
    run_id = run_id or uuid.uuid4().hex
    sync = S3Sync(client, bucket, workspace_prefix(user_id))
    with cache_slot(cache_root, user_id) as slot:
        manifest = load_manifest(slot.manifest_path) if slot.warm else {}
        try:
            manifest = sync.restore(slot.root, manifest, slot.scratch)
        except (ClientError, BotoCoreError, OSError) as error:
            save_manifest(slot.manifest_path, {})  # the folder is in an unknown state: next run starts cold
            raise ExecutorError("Your workspace could not be loaded from storage, so nothing was run "
                                f"({_reason(error)}). Please try again.") from None
        save_manifest(slot.manifest_path, manifest)
        before = os.lstat(slot.root)
        result = run(slot.root)
        if not _same_folder(slot.root, before):  # only possible without bwrap (the Lambda): it is a mount there
            save_manifest(slot.manifest_path, {})
            _discard(slot.root)
            raise ExecutorError("The run moved or replaced its workspace folder, so nothing it did was saved; "
                                "your stored files are unchanged.")
        report = sync.push(slot.root, manifest, run_id)
        save_manifest(slot.manifest_path, report.manifest)
    return merge_report(result, report)


def _same_folder(path: Path, before: os.stat_result) -> bool:
    """True if `path` is still the very folder it was (not a link, not another folder renamed into place)."""
    try:
        now = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(now.st_mode) and (now.st_dev, now.st_ino) == (before.st_dev, before.st_ino)


def _discard(path: Path) -> None:
    """Remove whatever now sits at `path` without following it, so the next run restores afresh."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def merge_report(result: RunResult, report: SyncReport) -> RunResult:
    """Fill a RunResult's file fields from a push, and add plain sentences for conflicts and failures."""
    result.files_changed = report.changed
    result.skipped = sorted(set(result.skipped) | {
        f"{note}: not saved" + ("" if note.endswith(f"({DEEP_NOTE})") else ", links and special files are not kept")
        for note in report.skipped})
    result.sync_failed = report.failed
    if report.conflicts:
        result.message += (f" Another run changed {len(report.conflicts)} of the same files at the same time; "
                           f"this run's versions were saved as: {', '.join(report.conflicts[:5])}.")
    if report.failed:
        shown = ", ".join(report.failed[:5]) + (" ..." if len(report.failed) > 5 else "")
        result.message += (f" {len(report.failed)} file(s) could not be saved to storage and keep their "
                           f"previous version: {shown}.")
    return result


def _reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "storage error")
    return type(error).__name__


def s3_client_for_backend(backend: Backend) -> Any:
    """An S3 client with a connection pool sized for parallel restores (honours AWS_ENDPOINT_URL)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(max_pool_connections=32, retries={"mode": "standard"}))
