"""In-process workers (waitress, any long-lived host): a dispatcher leases jobs and runs them on a pool.

The dispatcher looks for work when woken (a message was accepted, a job finished) and every
`poll_s` otherwise, which is how it finds jobs of a crashed process or replica once their
lease has run out. A request that accepted a job may wait briefly for its reply (`wait_reply`),
to answer inline; exactly one of that request and the worker delivers it.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ..errors import Delta3Error
from .jobs import DONE, JobRecord
from .runner import Lease, TurnRunner

log = logging.getLogger("delta3.turns")

POLL_S = 2.0


def finish_inline(lease: Lease, answered: dict) -> bool:
    """Record the job as answered inline (with its new reply, if any) in one write; False if that failed."""
    try:
        lease.save(status=DONE, finished_at=time.time(), outbox={**lease.job.outbox, "via": "inline"}, **answered)
    except Delta3Error:  # not recorded as answered: the worker sends it through the Messages API instead
        return False
    return True


class _Waiter:
    """A request waiting for its job's reply; the hand-off is atomic, so the reply goes out once."""

    def __init__(self, on_answered):
        self._on_answered = on_answered  # runs before the request wakes, so its next message sees the lane free
        self._done = threading.Event()
        self._lock = threading.Lock()
        self.reply: dict | None = None
        self._gave_up = False

    def wait(self, timeout: float) -> dict | None:
        self._done.wait(timeout)
        with self._lock:
            if self.reply is None:
                self._gave_up = True
            return self.reply

    def offer(self, lease: Lease, answered: dict) -> bool:
        """Give the reply to the waiting request, recording the job as answered inline; False if it left."""
        with self._lock:
            if self._gave_up:
                return False
            if not finish_inline(lease, answered):
                return False
            self.reply = lease.job.reply
        self._on_answered(lease.job)
        self._done.set()
        return True


class TurnWorkers:
    """A bounded pool running leased jobs; one job per lane at a time, lanes in queue order."""

    def __init__(self, runner: TurnRunner, workers: int, poll_s: float = POLL_S):
        self.runner = runner
        self.poll_s = poll_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="turn-worker")
        self._cond = threading.Condition()
        self._free = workers
        self._lanes: set[str] = set()
        self._woken = True  # look at once on start: jobs left by a previous run of the service
        self._closed = False
        self._waiters: dict[str, _Waiter] = {}
        self._thread = threading.Thread(target=self._dispatch, name="turn-dispatcher", daemon=True)

    def start(self) -> TurnWorkers:
        """Start the dispatcher."""
        self._thread.start()
        return self

    def wake(self) -> None:
        """Look for work now (a job was accepted or finished)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def can_start_now(self, lane: str) -> bool:
        """True when a worker is free and this lane has no job running here (a quick answer is possible)."""
        with self._cond:
            return self._free > 0 and lane not in self._lanes

    def wait_reply(self, job_id: str, timeout: float) -> dict | None:
        """Wake the workers and wait up to `timeout` s for this job's reply; None: it will be sent later."""
        waiter = self._waiters[job_id] = _Waiter(self._lane_done)
        try:
            self.wake()
            return waiter.wait(timeout)
        finally:
            self._waiters.pop(job_id, None)

    def _lane_done(self, job: JobRecord) -> None:
        with self._cond:
            self._lanes.discard(job.lane)

    def _handoff(self, lease: Lease, answered: dict) -> bool:
        waiter = self._waiters.get(lease.job.job_id)
        return waiter is not None and waiter.offer(lease, answered)

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not (self._woken and self._free > 0):
                    if not self._cond.wait(self.poll_s) and self._free > 0:
                        break  # the poll: jobs whose lease ran out, jobs accepted by another replica
                if self._closed:
                    return
                self._woken = False
            self._fill()

    def _fill(self) -> None:
        """Lease and start jobs while workers are free."""
        while True:
            with self._cond:
                if self._free <= 0 or self._closed:
                    return
                busy = set(self._lanes)
                free = self._free
            try:
                jobs = self.runner.next_jobs(free, busy)
            except Delta3Error as error:
                log.warning("could not look for turn jobs: %s", error)
                return
            if not jobs:
                return
            with self._cond:
                self._free -= len(jobs)
                self._lanes.update(job.lane for job in jobs)
            for job in jobs:
                self._pool.submit(self._run, job)

    def _run(self, job: JobRecord) -> None:
        try:
            self.runner.run(job, self._handoff)
        finally:
            with self._cond:
                self._free += 1
                self._lanes.discard(job.lane)
                self._woken = True  # the lane's next job may run now
                self._cond.notify_all()

    def close(self, wait: bool = True) -> None:
        """Stop leasing; with `wait`, let running jobs finish (unfinished ones are retaken after a restart)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        self._pool.shutdown(wait=wait)
