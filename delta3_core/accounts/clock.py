"""The accounts' clock: one function, so tests can move time (monkeypatch accounts.clock.now)."""

from __future__ import annotations

import time


def now() -> float:
    """Seconds since the epoch."""
    return time.time()
