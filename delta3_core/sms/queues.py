"""Run SMS work in the background: a bounded pool, one phone's messages in order, one at a time."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("delta3.sms")


class PendingReply:
    """The answer to one message: the webhook waits for it briefly, else it is sent later by `on_late`."""

    def __init__(self, on_late: Callable[[object], None] | None = None):
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._reply = None
        self._deferred = False
        self._on_late = on_late

    def wait(self, timeout: float):
        """The reply if it is ready within `timeout` seconds; else None, and it will go out through `on_late`."""
        self._done.wait(timeout)
        with self._lock:  # the handoff is atomic: exactly one of webhook and worker delivers the reply
            if self._reply is not None:
                return self._reply
            self._deferred = True
            return None

    def finish(self, reply) -> None:
        """Record the reply; deliver it through `on_late` if the webhook stopped waiting."""
        with self._lock:
            self._reply = reply
            late = self._deferred
        self._done.set()
        if late and self._on_late is not None:
            self._on_late(reply)


class PhoneQueues:
    """A bounded worker pool where each phone has its own queue, drained one job at a time in order."""

    def __init__(self, workers: int):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sms-worker")
        self._workers = workers
        self._lock = threading.Lock()
        self._queues: dict[str, deque] = {}

    def submit(self, phone: str, job: Callable[[], object],
               on_done: Callable[[object], None] | None = None) -> bool:
        """Queue `job` behind any earlier job of the same phone; True if a worker can start it right away.

        `on_done(result)` runs once the job has left the queue, so whoever it wakes sees the phone free.
        """
        with self._lock:
            queue = self._queues.get(phone)
            if queue is not None:  # a job of this phone is running; it will pick this one up
                queue.append((job, on_done))
                return False
            self._queues[phone] = deque([(job, on_done)])
            # Each phone with a queue holds at most one worker, so more phones than workers means a wait.
            starts_now = len(self._queues) <= self._workers
        self._pool.submit(self._drain_one, phone)
        return starts_now

    def _drain_one(self, phone: str) -> None:
        while True:
            with self._lock:
                job, on_done = self._queues[phone][0]
            result = None
            try:
                result = job()
            except Exception:  # a failed job must not block the phone's later messages
                log.exception("an SMS job failed")
            with self._lock:
                queue = self._queues[phone]
                queue.popleft()
                more = bool(queue)
                if not more:
                    del self._queues[phone]
            if on_done is not None:
                try:
                    on_done(result)
                except Exception:
                    log.exception("an SMS job's completion failed")
            if not more:
                return
            try:  # resubmit rather than loop, so one busy phone cannot hold a worker while others wait
                self._pool.submit(self._drain_one, phone)
                return
            except RuntimeError:  # shutting down: finish this phone's queue in this thread
                continue

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting work; with `wait`, finish what is queued first."""
        self._pool.shutdown(wait=wait)
