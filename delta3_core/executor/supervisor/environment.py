"""What a run starts with: its interpreters, its command line and its whole environment (one builder)."""

from __future__ import annotations

import os

RUN_PYTHON = "/usr/bin/python3"  # the distribution's interpreter, never the app's venv
RUN_SHELL = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
RUN_PATH = "/usr/local/bin:/usr/bin:/bin"


def command_for(kind: str, source: str, *, python: str = RUN_PYTHON, shell: str = RUN_SHELL) -> list[str]:
    """The argv that runs `source` ('python' code or a 'shell' command)."""
    if kind == "python":
        return [python, "-c", source]
    return [shell, "-c", source]


def run_environment(home: str, *, tmpdir: str = "/tmp", path: str = RUN_PATH, **extra: str) -> dict[str, str]:
    """The whole environment a run sees, nothing inherited from the app: add a variable every run needs here."""
    return {"HOME": home, "PATH": path, "LANG": "C.UTF-8", "TMPDIR": tmpdir, "PYTHONIOENCODING": "utf-8",
            "MPLBACKEND": "Agg", "USER": "sandbox", **extra}
