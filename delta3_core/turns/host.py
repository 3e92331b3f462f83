"""The turn runner of one process, with the channels' handlers, and where new jobs go to run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from .jobs import JobRecord
from .runner import JobHandler, TurnRunner
from .workers import TurnWorkers

if TYPE_CHECKING:
    from delta3_core.services import Services

log = logging.getLogger("delta3.turns")


class TurnHost:
    """In-process workers (waitress, any long-lived host), or on Lambda a `defer` hook that invokes a worker."""

    def __init__(self, services: Services, defer: Callable[[JobRecord], None] | None = None, workers: bool = True):
        self.runner = TurnRunner(services, {})
        self.defer = defer
        self.workers = None
        if defer is None and workers:
            self.workers = TurnWorkers(self.runner, services.settings.sms_workers).start()

    def add_handler(self, channel: str, handler: JobHandler) -> None:
        """Run jobs of `channel` with `handler` (SMS, the API's asynchronous turns...)."""
        self.runner.handlers[channel] = handler

    def submit(self, job: JobRecord) -> None:
        """Start a stored job: wake the workers, or invoke one. A failure here loses nothing (the job is stored)."""
        if self.workers is not None:
            self.workers.wake()
            return
        if self.defer is not None:
            try:
                self.defer(job)
            except Exception:  # the job is safe in the store: the periodic sweep runs it
                log.exception("job %s: could not invoke a worker; the sweep will run it", job.job_id)

    def wait_reply(self, job: JobRecord, timeout: float) -> dict | None:
        """Start the job and wait up to `timeout` s for its reply here; None: it is answered later."""
        if self.workers is None:
            self.submit(job)
            return None
        return self.workers.wait_reply(job.job_id, timeout if self.workers.can_start_now(job.lane) else 0.0)

    def close(self) -> None:
        """Finish running jobs and stop the workers (jobs not started stay queued for the next start)."""
        if self.workers is not None:
            self.workers.close(wait=True)
