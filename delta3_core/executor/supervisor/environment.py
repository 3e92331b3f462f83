"""What a run starts with: its interpreters, its command line and its whole environment (one builder).

Packages a user installs live in the workspace's hidden PACKAGES_DIR, so they persist, sync with the
workspace, count against its quota, and no other user sees them. Tool caches (fontconfig, matplotlib,
pip, npm) go to the run's own cache folder, emptied with the run: they are not the user's files, and would
otherwise show up under "Files changed" after every plot.
"""

from __future__ import annotations

import os

RUN_PYTHON = "/usr/bin/python3"  # the distribution's interpreter, never the app's venv
RUN_SHELL = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
RUN_PATH = "/usr/local/bin:/usr/bin:/bin"
PACKAGES_DIR = ".delta3"
MATPLOTLIB_CACHE = "matplotlib"  # under the run's cache folder: what MPLCONFIGDIR names


def command_for(kind: str, source: str, *, python: str = RUN_PYTHON, shell: str = RUN_SHELL) -> list[str]:
    """The argv that runs `source` ('python' code or a 'shell' command)."""
    if kind == "python":
        return [python, "-c", source]
    return [shell, "-c", source]


def run_environment(home: str, *, tmpdir: str = "/tmp", cachedir: str | None = None, path: str = RUN_PATH,
                    **extra: str) -> dict[str, str]:
    """The whole environment a run sees, nothing inherited from the app: add a variable every run needs here.

    cachedir: the run's own cache folder, emptied with the run (default: `tmpdir`/.cache).
    """
    cachedir = cachedir or f"{tmpdir}/.cache"
    python, npm = f"{home}/{PACKAGES_DIR}/python", f"{home}/{PACKAGES_DIR}/npm"
    return {"HOME": home, "PATH": f"{python}/bin:{npm}/bin:{path}", "LANG": "C.UTF-8", "TMPDIR": tmpdir,
            "PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg", "USER": "sandbox",
            # installs: pip --user and npm -g into the workspace, where later runs find them
            "PYTHONUSERBASE": python,
            "PIP_USER": "1",
            "PIP_BREAK_SYSTEM_PACKAGES": "1",  # Debian's python is "externally managed"; a --user install is fine
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_WARN_SCRIPT_LOCATION": "1",
            "NPM_CONFIG_PREFIX": npm, "NODE_PATH": f"{npm}/lib/node_modules",
            "NPM_CONFIG_UPDATE_NOTIFIER": "false", "NPM_CONFIG_FUND": "false", "NPM_CONFIG_AUDIT": "false",
            # caches: the run's own, never the workspace
            "XDG_CACHE_HOME": cachedir, "MPLCONFIGDIR": f"{cachedir}/{MATPLOTLIB_CACHE}",
            "NPM_CONFIG_CACHE": f"{cachedir}/npm",
            **extra}
