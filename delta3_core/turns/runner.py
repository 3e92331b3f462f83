"""Run leased jobs: renew the lease while the turn runs, resume safely after a crash, answer once."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import Delta3Error
from .jobs import DONE, FAILED, JobRecord, LeaseLost, lane_heads

if TYPE_CHECKING:
    from delta3_core.services import Services

log = logging.getLogger("delta3.turns")

MAX_ATTEMPTS = 3  # a job whose worker died this often (a turn that kills its process?) is not tried again
RETRY_AFTER_S = 10.0  # a delivery that could not reach the network is tried again this much later
INTERRUPTED = "interrupted"
STALE = "stale"


class RetryLater(Delta3Error):
    """The reply could not be delivered just now (network down): try the job again later."""


class Lease:
    """A job this worker holds: every save renews the lease; a heartbeat renews it while the turn runs."""

    def __init__(self, records, job: JobRecord, lease_s: float):
        self.records, self.job, self.lease_s = records, job, lease_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self.lost = False

    def save(self, lease_for: float | None = None, **changes: Any) -> JobRecord:
        """Apply `changes` to the job and write it (fenced by owner and attempt); LeaseLost if taken.

        The lease then runs `lease_for` seconds (default: a full lease) from now.
        """
        with self._lock:
            if self.lost:
                raise LeaseLost("Another worker has taken this job.")
            for name, value in changes.items():
                setattr(self.job, name, value)
            self.job.lease_until = time.time() + (self.lease_s if lease_for is None else lease_for)
            try:
                self.records.save_job(self.job)
            except LeaseLost:
                self.lost = True
                raise
            return self.job

    def note_progress(self, **progress: Any) -> None:
        """Record how far the turn got (text so far, tools run, the tool in flight) before a side effect."""
        self.save(progress={**self.job.progress, **progress})

    def start_heartbeat(self) -> None:
        """Renew the lease every third of its length until `stop`."""
        self._beat = threading.Thread(target=self._renew, name=f"lease-{self.job.job_id[:12]}", daemon=True)
        self._beat.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.save()
            except LeaseLost:
                log.warning("job %s: lost its lease to another worker", self.job.job_id)
                return
            except Delta3Error as error:  # the store hiccuped: the next beat tries again, well inside the lease
                log.warning("job %s: could not renew its lease: %s", self.job.job_id, error)

    def stop(self) -> None:
        """Stop renewing (the job is finished, or we gave it up)."""
        self._stop.set()
        if self._beat is not None and self._beat is not threading.current_thread():
            self._beat.join()


class JobHandler(Protocol):
    """What a channel (SMS, the API) does with its jobs."""

    def run(self, lease: Lease) -> dict:
        """Run the turn from the start; the reply (JSON). Record progress with lease.note_progress."""

    def resume(self, lease: Lease) -> dict | None:
        """After a crash: the reply from what the turn saved, or an 'interrupted' reply; None to run again."""

    def stale(self, job: JobRecord) -> dict:
        """The reply for a job too old to answer: please send it again."""

    def deliver(self, lease: Lease, reply: dict) -> None:
        """Send the reply, once: check and record lease.job.outbox around each outgoing message."""


def make_owner() -> str:
    """A worker id unique to this process: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class TurnRunner:
    """Leases jobs for the channels it has handlers for, and runs each to exactly one answer."""

    def __init__(self, services: Services, handlers: dict[str, JobHandler], owner: str | None = None):
        self.services = services
        self.records = services.backend.records
        self.handlers = handlers
        self.owner = owner or make_owner()
        self.lease_s = services.settings.turn_lease_s
        self.stale_s = services.settings.turn_stale_s

    def next_job(self, busy_lanes: set[str] = frozenset()) -> JobRecord | None:
        """Lease the oldest runnable job: the head of its lane, pending or out of lease; None if there is none."""
        taken = self.next_jobs(1, busy_lanes)
        return taken[0] if taken else None

    def next_jobs(self, limit: int, busy_lanes: set[str] = frozenset()) -> list[JobRecord]:
        """Lease up to `limit` runnable jobs (lane heads, oldest first) from one read of the queue."""
        taken: list[JobRecord] = []
        for head in lane_heads(self.records.open_jobs()):
            if len(taken) >= limit:
                break
            if head.lane in busy_lanes or head.channel not in self.handlers or not head.leasable():
                continue
            job = self.records.lease_job(head, self.owner, self.lease_s)
            if job is not None:
                taken.append(job)
        return taken

    def lease(self, job_id: str, lane: str | None = None) -> JobRecord | None:
        """Lease this job if it is its lane's head and free; None if it is finished, busy or behind another.

        With `lane`, the head of that lane is leased instead when it is free (its worker died): a job
        waiting behind it then runs that one first.
        """
        for head in lane_heads(self.records.open_jobs()):
            if (head.job_id == job_id or head.lane == lane) and head.leasable():
                return self.records.lease_job(head, self.owner, self.lease_s)
        return None

    def run(self, job: JobRecord, handoff: Callable[[Lease, dict], bool] | None = None) -> None:
        """Take a leased job to its answer. `handoff(lease, changes)` may deliver it instead (inline TwiML):
        it then saves `changes` (the new reply, if any) with the job's end; lease.job.reply is the reply."""
        lease = Lease(self.records, job, self.lease_s)
        lease.start_heartbeat()
        try:
            handler = self.handlers[job.channel]
            reply, answered = job.reply, {}
            if reply is None:
                reply, note = self._answer(handler, lease)
                answered = {"reply": reply, **({"note": note} if note else {})}
            if handoff is not None and handoff(lease, answered):  # saves the reply and DONE in one write
                return
            if answered:  # kept before any message goes out, so a crash from here on never runs the turn again
                lease.save(**answered)
            handler.deliver(lease, reply)
            lease.save(status=DONE, finished_at=time.time())
        except LeaseLost:
            log.warning("job %s: another worker has it now; leaving it", job.job_id)
        except RetryLater as error:
            self._retry(lease, str(error))
        except Exception as error:
            log.exception("job %s failed", job.job_id)
            self._fail(lease, f"{type(error).__name__}: {error}")
        finally:
            lease.stop()

    def _answer(self, handler: JobHandler, lease: Lease) -> tuple[dict, str | None]:
        job = lease.job
        if job.age_s() > self.stale_s or job.attempts > MAX_ATTEMPTS:
            log.warning("job %s: too old or tried too often (%d); asking for a resend", job.job_id, job.attempts)
            return handler.stale(job), STALE
        if job.attempts > 1:  # a worker took it before and died
            reply = handler.resume(lease)
            if reply is not None:
                return reply, None
            lease.job.progress = {}
        return handler.run(lease), None

    def _retry(self, lease: Lease, why: str) -> None:
        """Let the lease lapse soon, so this or another worker tries the delivery again; fail after a few."""
        lease.stop()
        if lease.job.attempts >= MAX_ATTEMPTS + 2:
            self._fail(lease, why)
            return
        log.warning("job %s: %s; trying again in %.0f s", lease.job.job_id, why, RETRY_AFTER_S)
        try:
            lease.save(lease_for=RETRY_AFTER_S, note=why[:500])
        except Delta3Error:
            log.exception("job %s: could not be put back for a retry", lease.job.job_id)

    @staticmethod
    def _fail(lease: Lease, note: str) -> None:
        try:
            lease.save(status=FAILED, finished_at=time.time(), note=note[:500])
        except Delta3Error:
            log.exception("job %s: could not even be marked failed", lease.job.job_id)
