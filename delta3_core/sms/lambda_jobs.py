"""SMS on AWS Lambda: each chat job runs in an async self-invocation; a periodic sweep retakes the rest.

A Lambda is frozen once it has answered, so it cannot finish a slow chat in a background thread
the way the in-process workers do. The webhook invocation stores the job (durably, with its
claim), answers Twilio with an empty <Response/>, and invokes its own function asynchronously
(InvocationType="Event") with the job id; that invocation leases the job and runs it to its
answer. Order per phone: a job runs only when it heads its phone's lane, so the worker waits
(at most ORDER_WAIT_S, and never more than half the time its invocation has left) for the
message before it. A job whose invocation died (timeout, crash) keeps its lease until it runs
out; then Lambda's own retry of the invocation, or the scheduled sweep (`{"delta3_turn_sweep": true}`
every minute), takes it again and answers it exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import Delta3Error
from ..turns.jobs import JobRecord
from ..turns.runner import RetryLater
from .channel import SmsChannel

if TYPE_CHECKING:
    from delta3_core.services import Services

log = logging.getLogger("delta3.sms")

JOB_KEY = "delta3_sms_job"
SWEEP_KEY = "delta3_turn_sweep"
ORDER_WAIT_S = 600.0
POLL_S = 0.5
SWEEP_MARGIN_S = 120.0  # a sweep starts another job only while this much of the invocation is left


def lambda_invoke(payload: dict) -> None:
    """Invoke this same function asynchronously with `payload` (boto3 honours AWS_REGION etc.)."""
    import boto3

    boto3.client("lambda").invoke(FunctionName=os.environ["AWS_LAMBDA_FUNCTION_NAME"], InvocationType="Event",
                                  Payload=json.dumps(payload).encode())


def make_defer(services: Services, invoke: Callable[[dict], None] = lambda_invoke) -> Callable[[JobRecord], None]:
    """The `defer` hook of SmsChannel on Lambda: invoke a worker for the stored job."""

    def defer(job: JobRecord) -> None:
        invoke({JOB_KEY: job.job_id})

    return defer


def run_job(channel: SmsChannel, event: dict, time_left_s: float | None = None,
            max_wait_s: float = ORDER_WAIT_S, poll_s: float = POLL_S) -> dict:
    """Handle one async invocation: wait for the job's turn in its lane, run it, then sweep.

    Raises RetryLater when the job could not start in time, so Lambda invokes it again later.
    """
    job_id = event[JOB_KEY]
    records = channel.services.backend.records
    if time_left_s is not None:
        max_wait_s = min(max_wait_s, time_left_s / 2)
    deadline = time.monotonic() + max_wait_s
    while True:
        current = records.get_job(job_id)
        if current is None or not current.is_open:
            break  # answered (by us just now, by a retry, or by the sweep)
        # An earlier message of the phone whose worker died is run first, here, keeping the order.
        job = channel.runner.lease(job_id, lane=current.lane)
        if job is not None:
            channel.runner.run(job)
            continue
        if time.monotonic() >= deadline:
            raise RetryLater(f"job {job_id} is still waiting for an earlier message of its phone")
        time.sleep(poll_s)
    swept = sweep(channel, None if time_left_s is None else time_left_s - max_wait_s)
    return {"ok": True, "job": job_id, "swept": swept}


def sweep(channel: SmsChannel, time_left_s: float | None = None, max_jobs: int = 5) -> int:
    """Run jobs nobody is running (pending, or out of lease: their worker died); how many were run."""
    started = time.monotonic()
    done = 0
    while done < max_jobs and (time_left_s is None or time_left_s - (time.monotonic() - started) > SWEEP_MARGIN_S):
        try:
            job = channel.runner.next_job()
        except Delta3Error as error:
            log.warning("sweep: could not look for jobs: %s", error)
            break
        if job is None:
            break
        channel.runner.run(job)
        done += 1
    return done
