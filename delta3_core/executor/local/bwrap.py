"""The bubblewrap sandbox's command line: fresh namespaces, a read-only system, only the workspace writable."""

from __future__ import annotations

from pathlib import Path

from ..contract import Limits
from ..supervisor.environment import run_environment

WORKDIR = "/workspace"
SANDBOX_UID = 65534  # "nobody" inside the sandbox's own user namespace
# Read-only files from the host /etc that programs need; nothing secret (no shadow, no app config).
# matplotlibrc: Debian's matplotlib looks for it only in /etc and refuses to import without it.
ETC_FILES = ("ld.so.cache", "alternatives", "ssl", "ca-certificates", "localtime", "mime.types", "matplotlibrc")
NETWORK_ETC_FILES = ("resolv.conf", "hosts", "nsswitch.conf", "gai.conf")
TMPFS_MB_MAX = 64


def sandbox_env() -> dict[str, str]:
    """The whole environment a sandboxed run sees."""
    return run_environment(WORKDIR)


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
