"""Whether the local sandbox can run on this host: find bwrap, probe it once, and explain what is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..contract import Limits
from ..supervisor.environment import RUN_PYTHON
from ..supervisor.rlimits import with_limits
from ..supervisor.uids import hand_over, host_uid
from .bwrap import bwrap_command, bwrap_options
from .seccomp import filter_fd

if TYPE_CHECKING:
    from delta3_core.config import Settings

INSTALL_HINT = ("Install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: "
                "`sudo dnf install bubblewrap`), or set DELTA3_UNSAFE_NO_SANDBOX=true to run code "
                "without isolation (not recommended).")
USERNS_HINT = ("bubblewrap could not create namespaces. Allow unprivileged user namespaces "
               "(`sudo sysctl kernel.unprivileged_userns_clone=1`; on Ubuntu 24.04 also "
               "`sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`), or in Docker run the "
               "container with `--security-opt seccomp=unconfined --security-opt apparmor=unconfined`.")


def find_bwrap() -> str | None:
    """Path of the bwrap binary, or None when it is not installed."""
    return shutil.which("bwrap") or next((p for p in ("/usr/bin/bwrap", "/bin/bwrap") if os.access(p, os.X_OK)),
                                         None)


@dataclass(frozen=True)
class SandboxCheck:
    """Whether runs are allowed here, and the plain text explaining it."""

    ok: bool
    unsafe: bool
    text: str
    bwrap: str | None = None


_ok_cache: dict[tuple[str, bool], SandboxCheck] = {}
_cache_lock = threading.Lock()


def check_sandbox(settings: Settings) -> SandboxCheck:
    """Probe bwrap once (success is cached per process; a failure is re-checked next time)."""
    if settings.unsafe_no_sandbox:
        return SandboxCheck(True, True, "UNSAFE: code runs WITHOUT a sandbox (DELTA3_UNSAFE_NO_SANDBOX=true): "
                            "only resource limits apply, and the code can read this host's files.")
    bwrap = find_bwrap()
    if bwrap is None:
        return SandboxCheck(False, False, "Code cannot run: bubblewrap (bwrap) is not installed. " + INSTALL_HINT)
    if not os.access(RUN_PYTHON, os.X_OK):
        return SandboxCheck(False, False, f"Code cannot run: {RUN_PYTHON} is missing. Install it "
                            "(Debian/Ubuntu: `sudo apt-get install python3`).")
    key = (bwrap, bool(settings.sandbox_network))
    with _cache_lock:
        if key in _ok_cache:
            return _ok_cache[key]
    check = _probe(bwrap, Limits.from_settings(settings))
    if check.ok:
        with _cache_lock:
            _ok_cache[key] = check
    return check


def _probe(bwrap: str, limits: Limits) -> SandboxCheck:
    uid = host_uid()
    with tempfile.TemporaryDirectory(prefix="delta3-probe-") as tmp:
        seccomp = filter_fd()  # probed with the same filter every run gets
        fds = [] if seccomp is None else [seccomp]
        as_uid = {"user": uid, "group": uid, "extra_groups": []} if uid is not None else {}
        try:
            if uid is not None:
                hand_over(Path(tmp), uid)
            options = bwrap_options(Path(tmp), limits, seccomp_fd=seccomp)
            argv, args_fd = bwrap_command(bwrap, options, with_limits([RUN_PYTHON, "-c", "print('ok')"], limits))
            fds.append(args_fd)
            done = subprocess.run(argv, capture_output=True, timeout=20, env={}, **as_uid, pass_fds=tuple(fds))
        except (OSError, subprocess.TimeoutExpired) as error:
            return SandboxCheck(False, False, f"Code cannot run: starting bwrap failed ({error}). " + USERNS_HINT)
        finally:
            for fd in fds:
                os.close(fd)
    if done.returncode != 0 or done.stdout.strip() != b"ok":
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        return SandboxCheck(False, False, f"Code cannot run: the sandbox failed to start ({detail[0][:200]}). "
                            + USERNS_HINT)
    network = "on" if limits.network else "off"
    return SandboxCheck(True, False, f"ok: code runs in a bubblewrap sandbox (network {network}).", bwrap)

