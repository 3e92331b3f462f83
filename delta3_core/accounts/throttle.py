"""Failed-attempt throttling per email and per source, counted in the store's fixed windows."""

from __future__ import annotations

import math

from .. import store_keys
from ..errors import ThrottledError
from ..storage.base import Backend
from . import clock

LOGIN_WINDOW_S = 15 * 60
MAX_FAILURES_PER_EMAIL = 5
# A source (IP address, phone) may be shared by several people, so it gets more room than one email.
MAX_FAILURES_PER_SOURCE = 20


def throttle_keys(email: str, source: str | None, kind: str = "login-fail") -> list[tuple[str, int]]:
    """Counter keys and limits for an email (first) and a source; hashed, so keys carry no address."""
    keys = [(store_keys.failure_counter(kind, "email", email), MAX_FAILURES_PER_EMAIL)]
    if source:
        keys.append((store_keys.failure_counter(kind, "src", source), MAX_FAILURES_PER_SOURCE))
    return keys


def retry_after(window_s: int = LOGIN_WINDOW_S) -> float:
    """Seconds until the current counting window ends (the store's windows align to the epoch)."""
    return max(1.0, window_s - (clock.now() % window_s))


def check_throttle(backend: Backend, keys: list[tuple[str, int]], what: str = "failed logins") -> None:
    """ThrottledError if any counter has reached its limit in this window."""
    for key, limit in keys:
        if backend.records.incr_counter(key, LOGIN_WINDOW_S, 0) >= limit:
            wait = retry_after()
            raise ThrottledError(f"Too many {what}; try again in {math.ceil(wait / 60)} minutes.",
                                 retry_after=wait)


def record_failure(backend: Backend, keys: list[tuple[str, int]]) -> None:
    """Count one failure against every key."""
    for key, _limit in keys:
        backend.records.incr_counter(key, LOGIN_WINDOW_S, 1)


def forget_failures(backend: Backend, key: str) -> None:
    """Reset one counter (the owner got in: forget their typos)."""
    failures = backend.records.incr_counter(key, LOGIN_WINDOW_S, 0)
    if failures:
        backend.records.incr_counter(key, LOGIN_WINDOW_S, -failures)
