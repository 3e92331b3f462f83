"""Pre-started sandboxes: after a user's run, a fresh bwrap + python3 waits for that user's next run.

Each one is still used once and then torn down (clean slate): only its start-up happens ahead of time,
so a warm run costs about what a bare `python3 -c` does. An unused one exits by itself after IDLE_S.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .cgroup import remove as remove_cgroup
from .forwarder import FORWARDER_SOURCE, PROXY_PORT, PROXY_SOCKET

IDLE_S = 300
FRESH_MARGIN_S = 30
MAX_WAITING = 32  # pre-started sandboxes kept at once (each is ~10 MB of idle python, more preloaded)

# Runs as `python3 -s -c` inside the sandbox: wait for "kind\0source" on stdin, then become that run.
# -s: the user's own site-packages (pip installs, with .pth files that run code) are added only once the
# job has arrived, inside the supervised run, where a fresh `python3 -c` would have them: before sys.path's
# system site-packages.
ZYGOTE_SOURCE = r"""
def _user_site(os, sys):
    import site
    folder = site.getusersitepackages()
    if not os.path.isdir(folder):
        return
    count = len(sys.path)
    site.addsitedir(folder)
    added = sys.path[count:]
    del sys.path[count:]
    at = next((i for i, p in enumerate(sys.path) if p.endswith(("-packages",))), len(sys.path))
    sys.path[at:at] = added
    site.ENABLE_USER_SITE = True


def _zygote(os, sys, signal):
    signal.alarm(%(idle)d)
    job = sys.stdin.buffer.read()
    signal.alarm(0)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    kind, _, source = job.partition(b"\0")
    if kind != b"python":
        os.execv(%(shell)r, [%(shell)r, "-c", source.decode("utf-8", "surrogateescape")])
    _user_site(os, sys)
    code = compile(source.decode("utf-8", "surrogateescape"), "<string>", "exec")
    main = sys.modules["__main__"].__dict__
    for name in [n for n in main if not n.startswith("__")]:
        del main[name]  # the run starts with the namespace of a fresh `python3 -c`
    try:
        exec(code, main)
    except SystemExit:
        raise
    except BaseException as error:
        import traceback
        traceback.print_exception(type(error), error, error.__traceback__.tb_next)
        sys.exit(1)
import os, signal, sys
_zygote(os, sys, signal)
"""


# Libraries slow enough to import that a user's next run gets them imported ahead, when their last run
# imported them: that user's own zygote only, so nothing is shared between users.
PRELOADABLE = ("numpy", "pandas", "scipy", "sympy", "matplotlib", "matplotlib.pyplot")
_IMPORTS = re.compile(r"^[ \t]*(?:import|from)[ \t]+([A-Za-z_][\w.]*)", re.M)


def preloads_for(kind: str, source: str, workspace: Path) -> tuple[str, ...]:
    """The PRELOADABLE libraries a python run's source imports (what its user's next run likely imports).

    Never one the workspace or the user's own site-packages shadows: that would be the user's code,
    and it runs only inside a supervised run.
    """
    if kind != "python":
        return ()
    named = set(_IMPORTS.findall(source))
    wanted = [name for name in PRELOADABLE if name in named or any(n.startswith(name + ".") for n in named)]
    homes = [workspace, *workspace.glob(".delta3/python/lib/python3*/site-packages")]
    return tuple(name for name in wanted if not any(
        (home / f"{name.split('.')[0]}.py").exists() or (home / name.split(".")[0]).exists() for home in homes))


def zygote_source(shell: str, forwarder: bool = False, preload: tuple[str, ...] = ()) -> str:
    """The waiting program, with its idle timeout and shell path filled in.

    forwarder=True starts the registry forwarder first (its port is bound before any job arrives);
    `preload` names libraries to import while waiting (a failed import is left for the run to report).
    """
    source = ZYGOTE_SOURCE % {"idle": IDLE_S, "shell": shell}
    if preload:  # from the system's site-packages only: not the workspace ('' on sys.path)
        source = (f"import sys\n_path = sys.path[:]\nsys.path[:] = [p for p in _path if p]\n"
                  f"for _name in {preload!r}:\n    try:\n        __import__(_name)\n"
                  f"    except BaseException:\n        pass\nsys.path[:] = _path\n{source}")
    if forwarder:
        source = f"{FORWARDER_SOURCE}\nstart_forwarder({PROXY_SOCKET!r}, {PROXY_PORT})\n{source}"
    return source


@dataclass
class Zygote:
    """A started sandbox waiting on stdin; `info_read` yields bwrap's info (the sandbox's pid 1)."""

    proc: subprocess.Popen
    info_read: int
    cgroup: Path | None = None  # its memory-limited cgroup, where the host delegates one

    def alive(self) -> bool:
        return self.proc.poll() is None

    def discard(self) -> None:
        """Kill it and release its pipes (it was never given a job)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, 9)
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe:
                pipe.close()
        with contextlib.suppress(OSError):
            os.close(self.info_read)
        if self.cgroup is not None:
            remove_cgroup(self.cgroup)

    def send(self, kind: str, source: str) -> float:
        """Hand the job over; returns the monotonic time the run started (for the wall clock)."""
        started = time.monotonic()
        try:
            self.proc.stdin.write(kind.encode() + b"\0" + source.encode("utf-8", "surrogateescape"))
        except BrokenPipeError:
            pass  # it died meanwhile; collect() reports how
        finally:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        return started


class ZygotePool:
    """At most one waiting sandbox per key (user, folder, limits); thread-safe."""

    def __init__(self, max_waiting: int = MAX_WAITING):
        self.max_waiting = max_waiting
        self._waiting: dict[tuple, tuple[float, Zygote]] = {}
        self._lock = threading.Lock()
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delta3-zygote")

    def take(self, key: tuple) -> Zygote | None:
        """The waiting sandbox for `key` if there is a live one (it is removed from the pool)."""
        with self._lock:
            self._reap_locked()
            entry = self._waiting.pop(key, None)
        if entry and time.monotonic() - entry[0] > IDLE_S - FRESH_MARGIN_S:
            entry[1].discard()  # about to time out by itself: do not hand it a job
            return None
        return entry[1] if entry else None

    def prepare(self, key: tuple, spawn: Callable[[], Zygote]) -> None:
        """Start a sandbox for `key`'s next run in the background.

        Always from the same long-lived thread: bwrap --die-with-parent kills the sandbox when the
        *thread* that started it exits, so a short-lived thread would kill it at once.
        """
        self._spawner.submit(self._spawn_into, key, spawn)

    def _spawn_into(self, key: tuple, spawn: Callable[[], Zygote]) -> None:
        try:
            zygote = spawn()
        except OSError:
            return  # the next run simply starts cold
        evicted = []
        with self._lock:
            self._reap_locked()
            if key in self._waiting:
                evicted.append(self._waiting.pop(key)[1])
            while len(self._waiting) >= self.max_waiting:
                oldest = min(self._waiting, key=lambda k: self._waiting[k][0])
                evicted.append(self._waiting.pop(oldest)[1])
            self._waiting[key] = (time.monotonic(), zygote)
        for old in evicted:
            old.discard()

    def _reap_locked(self) -> None:
        for key in [k for k, (_, z) in self._waiting.items() if not z.alive()]:
            self._waiting.pop(key)[1].discard()

    def clear(self) -> None:
        """Kill every waiting sandbox (tests, shutdown)."""
        with self._lock:
            waiting, self._waiting = list(self._waiting.values()), {}
        for _, zygote in waiting:
            zygote.discard()


POOL = ZygotePool()
