"""The bubblewrap sandbox: its command line, and a check that it can run on this host."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SandboxUnavailableError
from .base import Limits
from .scan import walk
from .seccomp import filter_fd

SANDBOX_PYTHON = "/usr/bin/python3"  # the distribution's interpreter, never the app's venv
SANDBOX_SHELL = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
WORKDIR = "/workspace"
SANDBOX_UID = 65534  # "nobody" inside the sandbox's own user namespace
# When the app runs as root, the sandbox runs as this otherwise unused host uid instead: the kernel never
# enforces RLIMIT_NPROC for host root, so without it a fork bomb would only be stopped by the clock.
HOST_UID = 911911
UNSANDBOXED_UID = 911912  # unsafe mode, and the Lambda handler when called on a host as root (tests)
PRLIMIT = "/usr/bin/prlimit"
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
# Read-only files from the host /etc that programs need; nothing secret (no shadow, no app config).
# matplotlibrc: Debian's matplotlib looks for it only in /etc and refuses to import without it.
ETC_FILES = ("ld.so.cache", "alternatives", "ssl", "ca-certificates", "localtime", "mime.types", "matplotlibrc")
NETWORK_ETC_FILES = ("resolv.conf", "hosts", "nsswitch.conf", "gai.conf")
TMPFS_MB_MAX = 64

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


def command_for(kind: str, source: str) -> list[str]:
    """The argv that runs `source` inside the sandbox."""
    if kind == "python":
        return [SANDBOX_PYTHON, "-c", source]
    return [SANDBOX_SHELL, "-c", source]


def with_limits(command: list[str], limits: Limits) -> list[str]:
    """Prefix `command` so the rlimits are set inside the sandbox's user namespace.

    Set there, RLIMIT_NPROC counts only this run's processes (one user's fork bomb cannot starve another
    run), instead of every process of the host uid.
    """
    mb = 1024 * 1024
    values = {"cpu": (limits.cpu_s, limits.cpu_s + 1), "as": (limits.memory_mb * mb,) * 2,
              "fsize": (limits.file_mb * mb,) * 2, "nofile": (limits.open_files,) * 2, "core": (0, 0),
              "nproc": (limits.processes,) * 2}
    if os.access(PRLIMIT, os.X_OK):
        return [PRLIMIT, *(f"--{name}={soft}:{hard}" for name, (soft, hard) in values.items()), "--", *command]
    flags = {"cpu": "-t", "as": "-v", "fsize": "-f", "nofile": "-n", "core": "-c", "nproc": "-u"}
    # bash's ulimit counts -v and -f in KiB
    sets = "; ".join(f"ulimit -S -H {flags[name]} {soft // 1024 if name in ('as', 'fsize') else soft}"
                     for name, (soft, _hard) in values.items())
    return ["/bin/bash", "-c", f'{sets} && exec "$@"', "limit", *command]


def host_uid(sandboxed: bool = True) -> int | None:
    """The uid to drop to before starting code when we are root, else None (keep ours).

    Code run without bwrap gets another uid than the sandboxes: as their uid it would own their user
    namespaces, and could read a waiting sandbox's workspace through /proc/<pid>/root.
    """
    if os.geteuid() != 0:
        return None
    return HOST_UID if sandboxed else UNSANDBOXED_UID


ACL_XATTR = "system.posix_acl_access"
ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
ACL_UNDEFINED_ID = 0xFFFFFFFF


def hand_over(root: Path, uid: int) -> None:
    """Let `uid` reach and write `root`: a search-only ACL on locked ancestors, and ownership of the tree."""
    for parent in root.resolve().parents:
        try:
            ensure_search(parent, uid)
        except OSError:
            raise SandboxUnavailableError(
                f"Code cannot run: the sandbox user (uid {uid}) cannot reach {parent}, and its filesystem "
                "does not accept an ACL entry for it. Run the app as a non-root user, or point "
                "DELTA3_DATA_DIR at a folder whose parents others may enter (chmod o+x).") from None
    _own(str(root), None, uid)
    # By descriptor: a run of the same user may swap a folder for a link to a host folder while we walk,
    # and a path-based chown (as root) would then follow it out of the workspace.
    for _rel_dir, dir_fd, entries in walk(root):
        for name, info in entries:
            if info.st_uid != uid:
                _own(name, dir_fd, uid)


def _own(name: str, dir_fd: int | None, uid: int) -> None:
    """chown `name` (never a link's target) to `uid` unless it already is; quiet if it vanished."""
    try:
        if os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_uid != uid:
            os.chown(name, uid, uid, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        pass


def ensure_search(path: Path, uid: int) -> None:
    """Give `uid` (only it) search permission on folder `path` through its POSIX ACL, if it lacks it.

    Checked on every run: a later chmod (pytest and backup tools do that) silently masks an older entry.
    """
    info = os.stat(path)
    if info.st_mode & 0o001 or info.st_uid == uid:
        return
    entries = _read_acl(path, info.st_mode)
    if entries.get((ACL_USER, uid), 0) & 1 and entries.get((ACL_MASK, ACL_UNDEFINED_ID), 0) & 1:
        return
    entries[(ACL_USER, uid)] = entries.get((ACL_USER, uid), 0) | 1
    mask = entries.get((ACL_MASK, ACL_UNDEFINED_ID), (info.st_mode >> 3) & 7)
    entries[(ACL_MASK, ACL_UNDEFINED_ID)] = mask | 1
    data = struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", tag, perm, ident) for (tag, ident), perm in sorted(entries.items()))
    os.setxattr(path, ACL_XATTR, data)


def _read_acl(path: Path, mode: int) -> dict[tuple[int, int], int]:
    """The folder's ACL entries as {(tag, id): perm}; the plain mode bits when it has no ACL."""
    try:
        raw = os.getxattr(path, ACL_XATTR)
    except OSError:
        raw = b""
    entries = {(tag, ident): perm for tag, perm, ident in struct.iter_unpack("<HHI", raw[4:])} if raw else {}
    if not entries:
        entries = {(ACL_USER_OBJ, ACL_UNDEFINED_ID): (mode >> 6) & 7,
                   (ACL_GROUP_OBJ, ACL_UNDEFINED_ID): (mode >> 3) & 7,
                   (ACL_OTHER, ACL_UNDEFINED_ID): mode & 7}
    return entries


def sandbox_env() -> dict[str, str]:
    """The whole environment a run sees: nothing inherited from the app."""
    return {"HOME": WORKDIR, "PATH": SANDBOX_PATH, "LANG": "C.UTF-8", "TMPDIR": "/tmp",
            "PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg", "USER": "sandbox"}


def bwrap_argv(bwrap: str, workspace: Path, limits: Limits, command: list[str],
               info_fd: int | None = None, seccomp_fd: int | None = None) -> list[str]:
    """Full bwrap command line: fresh namespaces, read-only system, only `workspace` writable."""
    tmpfs_bytes = str(min(limits.file_mb, TMPFS_MB_MAX) * 1024 * 1024)  # /tmp is RAM: keep it small
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--new-session", "--clearenv", "--hostname", "sandbox",
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
            "--proc", "/proc", "--dev", "/dev",
            "--size", tmpfs_bytes, "--tmpfs", "/tmp",
            "--size", tmpfs_bytes, "--tmpfs", "/dev/shm"]
    names = ETC_FILES + (NETWORK_ETC_FILES if limits.network else ())
    for name in names:
        path = Path("/etc") / name
        if path.exists():
            argv += ["--ro-bind", str(path), str(path)]
    if limits.network:
        argv.append("--share-net")
    if info_fd is not None:
        argv += ["--info-fd", str(info_fd)]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    argv += ["--bind", str(workspace), WORKDIR, "--chdir", WORKDIR]
    for key, value in sandbox_env().items():
        argv += ["--setenv", key, value]
    return argv + ["--", *command]


@dataclass(frozen=True)
class SandboxCheck:
    """Whether runs are allowed here, and the plain text explaining it."""

    ok: bool
    unsafe: bool
    text: str
    bwrap: str | None = None


_ok_cache: dict[tuple[str, bool], SandboxCheck] = {}
_cache_lock = threading.Lock()


def check_sandbox(settings: Any) -> SandboxCheck:
    """Probe bwrap once (success is cached per process; a failure is re-checked next time)."""
    if settings.unsafe_no_sandbox:
        return SandboxCheck(True, True, "UNSAFE: code runs WITHOUT a sandbox (DELTA3_UNSAFE_NO_SANDBOX=true): "
                            "only resource limits apply, and the code can read this host's files.")
    bwrap = find_bwrap()
    if bwrap is None:
        return SandboxCheck(False, False, "Code cannot run: bubblewrap (bwrap) is not installed. " + INSTALL_HINT)
    if not os.access(SANDBOX_PYTHON, os.X_OK):
        return SandboxCheck(False, False, f"Code cannot run: {SANDBOX_PYTHON} is missing. Install it "
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
    import tempfile

    uid = host_uid()
    with tempfile.TemporaryDirectory(prefix="delta3-probe-") as tmp:
        command = with_limits([SANDBOX_PYTHON, "-c", "print('ok')"], limits)
        seccomp = filter_fd()  # probed with the same filter every run gets
        argv = bwrap_argv(bwrap, Path(tmp), limits, command, seccomp_fd=seccomp)
        as_uid = {"user": uid, "group": uid, "extra_groups": []} if uid is not None else {}
        try:
            if uid is not None:
                hand_over(Path(tmp), uid)
            done = subprocess.run(argv, capture_output=True, timeout=20, env={}, **as_uid,
                                  pass_fds=() if seccomp is None else (seccomp,))
        except (OSError, subprocess.TimeoutExpired) as error:
            return SandboxCheck(False, False, f"Code cannot run: starting bwrap failed ({error}). " + USERNS_HINT)
        finally:
            if seccomp is not None:
                os.close(seccomp)
    if done.returncode != 0 or done.stdout.strip() != b"ok":
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        return SandboxCheck(False, False, f"Code cannot run: the sandbox failed to start ({detail[0][:200]}). "
                            + USERNS_HINT)
    network = "on" if limits.network else "off"
    return SandboxCheck(True, False, f"ok: code runs in a bubblewrap sandbox (network {network}).", bwrap)


def describe_status(settings: Any) -> str:
    """Plain-text sandbox status for the settings page and logs."""
    if getattr(settings, "executor", "local") == "lambda":
        return f"ok: code runs in the executor Lambda {settings.executor_function}."
    return check_sandbox(settings).text
