"""The local executor: runs code on this host in a bubblewrap sandbox bound to the user's workspace."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..contract import ExecutorError, Limits, RunResult, SandboxUnavailableError, check_request
from ..supervisor.environment import RUN_PYTHON, RUN_SHELL, command_for, run_environment
from ..supervisor.fontlist import fontlist_if_ready
from ..supervisor.outcome import Outcome, to_result
from ..supervisor.process import collect, start, supervise, wait_gone
from ..supervisor.registries import configured_registries
from ..supervisor.rlimits import with_limits
from ..supervisor.scan import DEEP_NOTE, changed_paths, remove_specials, scan
from ..supervisor.uids import hand_over, host_uid
from . import cgroup
from .bwrap import bwrap_command, bwrap_options
from .probe import check_sandbox
from .registry_proxy import shared_proxy
from .seccomp import filter_fd
from .slots import SLOTS
from .zygote import POOL, Zygote, preloads_for, zygote_source

if TYPE_CHECKING:
    from delta3_core.config import Settings
    from delta3_core.storage.base import Backend

SLOT_WAIT_MARGIN_S = 10  # a waiting run gives the ones ahead of it their wall time plus this
UNSAFE_NOTE = " (Ran WITHOUT a sandbox: DELTA3_UNSAFE_NO_SANDBOX is on.)"


def run_in_folder(root: Path, kind: str, source: str, limits: Limits, *, bwrap: str | None,
                  warm_key: str | None = None) -> RunResult:
    """Run `source` with `root` as the workspace; bwrap=None means rlimits only (unsafe mode).

    With a warm_key (the user id), the next sandbox for this folder is started ahead of time.
    """
    before = scan(root).files
    try:
        outcome = _sandboxed(root, kind, source, limits, bwrap, warm_key) if bwrap else _unsandboxed(
            root, kind, source, limits)
    except OSError as error:
        raise ExecutorError(f"The code could not be started: {error.strerror or error}.") from None
    result = to_result(outcome, limits)
    after = scan(root)
    remove_specials(root, after.special_paths)
    result.skipped = [note if note.endswith(f"({DEEP_NOTE})") else
                      f"{note}: removed, links and special files are not kept" for note in after.skipped]
    result.files_changed = changed_paths(before, after.files)
    return result


def _unsandboxed(root: Path, kind: str, source: str, limits: Limits) -> Outcome:
    """Unsafe mode: rlimits only, but never as root (root ignores RLIMIT_NPROC and can read everything)."""
    uid = host_uid(sandboxed=False)
    if uid is not None:
        hand_over(root, uid)
    return supervise(command_for(kind, source), env=run_environment(str(root)),
                     cwd=str(root), limits=limits, watch_dir=root, as_uid=uid)


def _sandboxed(root: Path, kind: str, source: str, limits: Limits, bwrap: str, warm_key: str | None) -> Outcome:
    uid = host_uid()
    if uid is not None:
        hand_over(root, uid)
    proxy = _proxy_socket(limits)
    key = (warm_key, str(root), limits, bwrap, proxy)
    zygote = POOL.take(key) if warm_key else None
    if zygote is not None:
        started = zygote.send(kind, source)
    elif proxy is not None:  # the forwarder must listen before the code starts: the waiting program does that
        started = time.monotonic()
        zygote = _start_zygote(bwrap, root, limits, uid, proxy)
        zygote.send(kind, source)
    else:
        started = time.monotonic()
        zygote = _start_sandbox(bwrap, root, limits, uid, command_for(kind, source), None)
    try:
        outcome = collect(zygote.proc, limits, root, started)
        if zygote.cgroup is not None and cgroup.hit_limit(zygote.cgroup):
            outcome.stopped_for = outcome.stopped_for or "memory"  # the kernel killed it at memory.max
        return outcome
    finally:
        _wait_for_sandbox_exit(zygote.info_read)
        if zygote.cgroup is not None:
            cgroup.remove(zygote.cgroup)
        if warm_key:
            preload = preloads_for(kind, source, root)
            POOL.prepare(key, lambda: _start_zygote(bwrap, root, limits, uid, proxy, preload))


def _proxy_socket(limits: Limits) -> Path | None:
    """The registry proxy's socket for a network-off run (pip and npm reach the registries through it)."""
    return None if limits.network else shared_proxy(configured_registries()).socket_path


def _start_sandbox(bwrap: str, root: Path, limits: Limits, uid: int | None, command: list[str],
                   proxy: Path | None, stdin_pipe: bool = False) -> Zygote:
    info_read, info_write = os.pipe()  # bwrap reports the sandbox's pid 1 here
    fds = [info_write]
    try:
        seccomp = filter_fd()
        if seccomp is not None:
            fds.append(seccomp)
        options = bwrap_options(root, limits, info_fd=info_write, seccomp_fd=seccomp, proxy_socket=proxy,
                                fontlist=fontlist_if_ready(RUN_PYTHON))
        argv, args_fd = bwrap_command(bwrap, options, with_limits(command, limits))
        fds.append(args_fd)
        proc = start(argv, env={}, cwd=str(root), limits=limits, limits_inside=True, as_uid=uid,
                     pass_fds=tuple(fds), stdin_pipe=stdin_pipe)
    except BaseException:
        os.close(info_read)
        raise
    finally:
        for fd in fds:
            os.close(fd)
    # bwrap sets up its namespaces and mounts before the run's code starts, which in practice starts
    # inside the cgroup; the memory watch covers the moment before, as it covers hosts without one.
    group = cgroup.RUN_CGROUPS.create(limits.memory_mb)
    if group is not None and not cgroup.enter(group, proc.pid):
        cgroup.remove(group)
        group = None
    return Zygote(proc, info_read, group)


def _start_zygote(bwrap: str, root: Path, limits: Limits, uid: int | None, proxy: Path | None,
                  preload: tuple[str, ...] = ()) -> Zygote:
    command = [RUN_PYTHON, "-s", "-c", zygote_source(RUN_SHELL, forwarder=proxy is not None, preload=preload)]
    return _start_sandbox(bwrap, root, limits, uid, command, proxy, stdin_pipe=True)


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

    def __init__(self, settings: Settings, backend: Backend, limits: Limits | None = None):
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
        with SLOTS.hold(user_id, self.limits.memory_mb, wait_s=self.limits.wall_s + SLOT_WAIT_MARGIN_S):
            if root is None:
                result = self._run_from_s3(user_id, kind, source, bwrap)
            else:
                root = Path(root)
                root.mkdir(parents=True, exist_ok=True)
                result = run_in_folder(root, kind, source, self.limits, bwrap=bwrap, warm_key=user_id)
        if check.unsafe:
            result.message += UNSAFE_NOTE
        return result

    def _run_from_s3(self, user_id: str, kind: str, source: str, bwrap: str | None) -> RunResult:
        """AWS backend: restore into a local folder, run, and sync back with the Lambda's sync code."""
        from ..sync.synced_run import s3_client_for_backend, synced_run

        cache_root = Path(self.settings.data_dir) / "executor-cache"
        return synced_run(
            s3_client_for_backend(self.backend), self.settings.bucket, user_id, cache_root,
            # only the per-user warm folder (not a cold one beside it) gets a sandbox started ahead
            lambda folder: run_in_folder(folder, kind, source, self.limits, bwrap=bwrap,
                                         warm_key=user_id if folder.parent == cache_root / user_id else None),
        )
