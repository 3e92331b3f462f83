"""The local executor: runs code on this host in a bubblewrap sandbox bound to the user's workspace."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ExecutorError, SandboxUnavailableError
from .base import Limits, RunResult, check_request
from .process import supervise, to_result, wait_gone
from .sandbox import (
    SANDBOX_PYTHON,
    SANDBOX_SHELL,
    bwrap_argv,
    check_sandbox,
    command_for,
    hand_over,
    host_uid,
    sandbox_env,
    with_limits,
)
from .scan import changed_paths, remove_specials, scan

UNSAFE_NOTE = " (Ran WITHOUT a sandbox: DELTA3_UNSAFE_NO_SANDBOX is on.)"


def run_in_folder(root: Path, kind: str, source: str, limits: Limits, *, bwrap: str | None) -> RunResult:
    """Run `source` with `root` as the workspace; bwrap=None means rlimits only (unsafe mode)."""
    before = scan(root).files
    command = command_for(kind, source)
    if bwrap:
        uid = host_uid()
        if uid is not None:
            hand_over(root, uid)
        info_read, info_write = os.pipe()  # bwrap reports the sandbox's pid 1 here
        argv = bwrap_argv(bwrap, root, limits, with_limits(command, limits), info_fd=info_write)
        launch = {"env": {}, "limits_inside": True, "as_uid": uid, "pass_fds": (info_write,)}
    else:
        argv = [SANDBOX_PYTHON if kind == "python" else SANDBOX_SHELL, *command[1:]]
        launch = {"env": sandbox_env() | {"HOME": str(root)}}
    try:
        outcome = supervise(argv, cwd=str(root), limits=limits, watch_dir=root, **launch)
    except OSError as error:
        raise ExecutorError(f"The code could not be started: {error.strerror or error}.") from None
    finally:
        if bwrap:
            os.close(info_write)
    if bwrap:
        _wait_for_sandbox_exit(info_read)
    result = to_result(outcome, limits)
    after = scan(root)
    remove_specials(root, after.special_paths)
    result.skipped = [f"{note}: removed, links and special files are not kept" for note in after.skipped]
    result.files_changed = [p for p in changed_paths(before, after.files)]
    return result


def _wait_for_sandbox_exit(info_read: int) -> None:
    """Return only once every process of the sandbox is gone (its pid 1 is reaped last)."""
    with os.fdopen(info_read, "rb") as info:
        raw = info.read()
    try:
        pid = int(json.loads(raw or b"{}").get("child-pid", 0))
    except (ValueError, AttributeError):
        return
    if pid > 0:
        wait_gone(pid)


class LocalExecutor:
    """Executor for DELTA3_EXECUTOR=local: the sandbox on this host, workspace from the backend."""

    def __init__(self, settings: Any, backend: Any, limits: Limits | None = None):
        self.settings = settings
        self.backend = backend
        self.limits = limits or Limits.from_settings(settings)

    def run(self, user_id: str, kind: str, source: str) -> RunResult:
        """Run untrusted code for `user_id`; ExecutorError only when it could not run at all."""
        check_request(kind, source)
        check = check_sandbox(self.settings)
        if not check.ok:
            raise SandboxUnavailableError(check.text)
        bwrap = None if check.unsafe else check.bwrap
        root = self.backend.files.local_root(user_id)
        if root is None:
            result = self._run_from_s3(user_id, kind, source, bwrap)
        else:
            root = Path(root)
            root.mkdir(parents=True, exist_ok=True)
            result = run_in_folder(root, kind, source, self.limits, bwrap=bwrap)
        if check.unsafe:
            result.message += UNSAFE_NOTE
        return result

    def _run_from_s3(self, user_id: str, kind: str, source: str, bwrap: str | None) -> RunResult:
        """AWS backend: restore into a local folder, run, and sync back with the Lambda's sync code."""
        from .warm import s3_client_for_backend, synced_run

        cache_root = Path(self.settings.data_dir) / "executor-cache"
        return synced_run(
            s3_client_for_backend(self.backend), self.settings.bucket, user_id, cache_root,
            lambda folder: run_in_folder(folder, kind, source, self.limits, bwrap=bwrap),
        )
