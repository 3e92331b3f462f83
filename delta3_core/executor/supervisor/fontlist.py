"""matplotlib's font list, built once from the system fonts and given to every run (read-only or copied).

Runs keep their caches in a folder of their own, emptied with the run (environment.py); rebuilt there, the
font list would cost about half a second on every plotting run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from .environment import MATPLOTLIB_CACHE

FONTLIST_GLOB = "fontlist-v*.json"
_fontlists: dict[str, Path | None] = {}
_fontlist_lock = threading.Lock()
_building: set[str] = set()


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


def fontlist_if_ready(python: str) -> Path | None:
    """The font list if it is built; else start building it in the background and return None (that run
    builds its own, as it would anyway), so no run waits for it."""
    with _fontlist_lock:
        if python in _fontlists:
            return _fontlists[python]
        if python not in _building:
            _building.add(python)
            threading.Thread(target=matplotlib_fontlist, args=(python,), daemon=True).start()
    return None


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


def seed_matplotlib_cache(cachedir: Path, fontlist: Path | None) -> None:
    """Copy a prebuilt font list into a run's own cache folder (where it cannot be bound read-only)."""
    if fontlist is None or not fontlist.is_file():
        return
    target = cachedir / MATPLOTLIB_CACHE
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fontlist, target / fontlist.name)
