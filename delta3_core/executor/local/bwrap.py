"""The bubblewrap sandbox's command line: fresh namespaces, a read-only system, only the workspace writable."""

from __future__ import annotations

import os
from pathlib import Path

from ..contract import Limits
from ..supervisor.environment import MATPLOTLIB_CACHE, run_environment
from ..supervisor.registries import configured_registries
from .forwarder import PROXY_SOCKET, PROXY_URL

WORKDIR = "/workspace"
SANDBOX_UID = 65534  # "nobody" inside the sandbox's own user namespace
# Read-only files from the host /etc that programs need; nothing secret (no shadow, no app config).
# matplotlibrc: Debian's matplotlib looks for it only in /etc and refuses to import without it.
# fonts: Fontconfig's configuration (without it: "Fontconfig error: Cannot load default config file").
ETC_FILES = ("ld.so.cache", "alternatives", "ssl", "ca-certificates", "localtime", "mime.types", "matplotlibrc",
             "fonts")
# Fontconfig's system-wide cache, built by the font packages: read it rather than rebuild it in every run.
SYSTEM_CACHES = ("/var/cache/fontconfig",)
NETWORK_ETC_FILES = ("resolv.conf", "hosts", "nsswitch.conf", "gai.conf")
TMPFS_MB_MAX = 64
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # Debian's, bound in with /etc/ssl
CACHEDIR = "/run/cache"  # tools' caches: a tmpfs of the run's own, apart from /tmp and the workspace


def sandbox_env(proxied: bool = False) -> dict[str, str]:
    """The whole environment a sandboxed run sees: pip and npm pointed at this host's registries
    (through the forwarder to the registry proxy when the network is off)."""
    registries = configured_registries().run_env(PROXY_URL if proxied else None)
    if Path(SYSTEM_CA_BUNDLE).is_file():  # Node.js trusts the system's CAs too (an operator's own CA, say)
        registries["NODE_EXTRA_CA_CERTS"] = SYSTEM_CA_BUNDLE
    return run_environment(WORKDIR, cachedir=CACHEDIR, **registries)


def bwrap_options(workspace: Path, limits: Limits, info_fd: int | None = None,
                  seccomp_fd: int | None = None, *, proxy_socket: Path | None = None,
                  fontlist: Path | None = None) -> list[str]:
    """bwrap's options: fresh namespaces, read-only system, only `workspace` writable.

    proxy_socket: the registry proxy's socket, bound in for the forwarder (network off only);
    fontlist: matplotlib's prebuilt font list, bound read-only into the run's cache.
    """
    tmpfs_bytes = str(min(limits.file_mb, TMPFS_MB_MAX) * 1024 * 1024)  # /tmp is RAM: keep it small
    argv = ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--new-session", "--clearenv", "--hostname", "sandbox",
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
            "--proc", "/proc", "--dev", "/dev",
            "--size", tmpfs_bytes, "--tmpfs", "/tmp",
            "--size", tmpfs_bytes, "--tmpfs", "/dev/shm",
            "--size", tmpfs_bytes, "--tmpfs", CACHEDIR]
    names = ETC_FILES + (NETWORK_ETC_FILES if limits.network else ())
    for name in names:
        path = Path("/etc") / name
        if path.exists():
            argv += ["--ro-bind", str(path), str(path)]
    for path in SYSTEM_CACHES:
        if Path(path).is_dir():
            argv += ["--ro-bind", path, path]
    if fontlist is not None:
        argv += ["--ro-bind", str(fontlist), f"{CACHEDIR}/{MATPLOTLIB_CACHE}/{fontlist.name}"]
    proxied = proxy_socket is not None and not limits.network
    if proxied:
        argv += ["--ro-bind", str(proxy_socket), PROXY_SOCKET]
    if limits.network:
        argv.append("--share-net")
    if info_fd is not None:
        argv += ["--info-fd", str(info_fd)]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    argv += ["--bind", str(workspace), WORKDIR, "--chdir", WORKDIR]
    for key, value in sandbox_env(proxied).items():
        argv += ["--setenv", key, value]
    return argv


def bwrap_command(bwrap: str, options: list[str], command: list[str]) -> tuple[list[str], int]:
    """bwrap's argv with `options` read from a pipe (--args), and that pipe's read end (the caller passes
    it to bwrap and closes it).

    bwrap's command line is what every process in the sandbox reads as /proc/1/cmdline: passed there,
    the options would tell the run the host's paths (data dir, user id) and its uid.
    """
    blob = b"".join(option.encode() + b"\0" for option in options)
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, blob)  # a few KB, far below a pipe's buffer: never blocks
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return [bwrap, "--args", str(read_end), "--", *command], read_end
