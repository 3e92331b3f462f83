"""How many runs may go at once on this host: each run's limits hold per run, so their number is capped too."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator

from ..contract import ExecutorError

RUNS_PER_USER = 2  # more of one user's runs wait their turn (many tabs must not multiply the limits)
HOST_MEMORY_SHARE = 0.5  # runs together may reserve at most this share of the host's memory


def host_memory_mb() -> int:
    """Physical memory of this host in MB."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)


class RunSlots:
    """Admits a run when its user has a free slot and its memory limit fits the host's budget; else waits."""

    def __init__(self, per_user: int = RUNS_PER_USER, budget_mb: int | None = None):
        self.per_user = per_user
        self.budget_mb = budget_mb if budget_mb is not None else int(host_memory_mb() * HOST_MEMORY_SHARE)
        self._by_user: dict[str, int] = {}
        self._reserved_mb = 0
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def hold(self, user_id: str, memory_mb: int, wait_s: float) -> Iterator[None]:
        """Hold a slot for one run; ExecutorError if none frees up within `wait_s` seconds."""
        deadline = time.monotonic() + wait_s
        with self._changed:
            while not self._fits(user_id, memory_mb):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ExecutorError("Too much code is running at once right now (yours or others'); "
                                        "please try again in a minute.")
                self._changed.wait(left)
            self._by_user[user_id] = self._by_user.get(user_id, 0) + 1
            self._reserved_mb += memory_mb
        try:
            yield
        finally:
            with self._changed:
                self._by_user[user_id] -= 1
                if not self._by_user[user_id]:
                    del self._by_user[user_id]
                self._reserved_mb -= memory_mb
                self._changed.notify_all()

    def _fits(self, user_id: str, memory_mb: int) -> bool:
        if self._by_user.get(user_id, 0) >= self.per_user:
            return False
        return self._reserved_mb == 0 or self._reserved_mb + memory_mb <= self.budget_mb  # one run always may


SLOTS = RunSlots()
