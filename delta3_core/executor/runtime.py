"""The runtime a code run sees, on both executors: where installed packages live and where caches go.

Packages a user installs live in the workspace's hidden PACKAGES_DIR, so they persist, sync with the
workspace, count against its quota, and no other user sees them. Tool caches (fontconfig, matplotlib,
pip, npm) go to the run's private temporary folder instead: they are not the user's files, and would
otherwise show up under "Files changed" after every plot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

PACKAGES_DIR = ".delta3"


def package_env(workspace: str, path: str) -> dict[str, str]:
    """pip --user and npm -g installs into `workspace`/.delta3, found again by later runs; `path` is PATH."""
    python, npm = f"{workspace}/{PACKAGES_DIR}/python", f"{workspace}/{PACKAGES_DIR}/npm"
    return {
        "PYTHONUSERBASE": python,
        "PIP_USER": "1",  # `pip install x` means a per-user install: the system is read-only anyway
        "PIP_BREAK_SYSTEM_PACKAGES": "1",  # Debian marks its python "externally managed"; --user is fine here
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_WARN_SCRIPT_LOCATION": "1",
        "NPM_CONFIG_PREFIX": npm,
        "NODE_PATH": f"{npm}/lib/node_modules",
        "NPM_CONFIG_UPDATE_NOTIFIER": "false",
        "NPM_CONFIG_FUND": "false",
        "NPM_CONFIG_AUDIT": "false",
        "PATH": f"{python}/bin:{npm}/bin:{path}",
    }


def cache_env(tmp: str) -> dict[str, str]:
    """Caches under the run's private `tmp`: never in the workspace, gone with the run."""
    return {
        "XDG_CACHE_HOME": f"{tmp}/.cache",
        "MPLCONFIGDIR": f"{tmp}/{MATPLOTLIB_CACHE}",
        "NPM_CONFIG_CACHE": f"{tmp}/.cache/npm",
    }


MATPLOTLIB_CACHE = ".cache/matplotlib"  # under the run's tmp; what MPLCONFIGDIR names
FONTLIST_GLOB = "fontlist-v*.json"
_fontlists: dict[str, Path | None] = {}
_fontlist_lock = threading.Lock()


def matplotlib_fontlist(python: str) -> Path | None:
    """matplotlib's font list for `python`, built once per process from the system fonts only.

    Built fresh in every run's empty cache it costs about half a second per plot; this copy holds no user
    data (the system's fonts, nothing else), so every run may be given it read-only. None if it cannot be
    built (no matplotlib): runs then build their own.
    """
    with _fontlist_lock:
        if python not in _fontlists:
            _fontlists[python] = _build_fontlist(python)
        return _fontlists[python]


def _build_fontlist(python: str) -> Path | None:
    folder = Path(tempfile.mkdtemp(prefix="delta3-fontlist-"))
    os.chmod(folder, 0o755)  # sandboxes run as another uid and bind the file in by path
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "MPLCONFIGDIR": str(folder), "LANG": "C.UTF-8",
           "XDG_CACHE_HOME": str(folder / "xdg"), "MPLBACKEND": "Agg"}
    try:
        subprocess.run([python, "-I", "-c", "import matplotlib.font_manager"], env=env, capture_output=True,
                       timeout=120, check=True, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    found = sorted(folder.glob(FONTLIST_GLOB))
    if not found:
        return None
    os.chmod(found[0], 0o644)
    return found[0]


def seed_matplotlib_cache(tmp: Path, fontlist: Path | None) -> None:
    """Copy a prebuilt font list into a run's own cache folder (the Lambda's way of matplotlib_fontlist)."""
    if fontlist is None or not fontlist.is_file():
        return
    target = tmp / MATPLOTLIB_CACHE
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fontlist, target / fontlist.name)
