"""`python -m delta3_core jobs`: the durable turn queue at a glance (pending, running, failed, with ages)."""

from __future__ import annotations

import re
import time

from .jobs import JobRecord

_DIGITS = re.compile(r"\d(?=\d{4})")  # phone numbers in lanes show their last 4 digits only


def format_age(seconds: float) -> str:
    """'42s', '7m05s', '3h12m', '2d04h'."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def job_line(job: JobRecord, now: float) -> str:
    """One row: status, age, channel, lane, attempts, lease or note. Never the message text."""
    if job.status == "running":
        left = job.lease_until - now
        state = f"lease {format_age(left)} left" if left > 0 else f"lease ran out {format_age(-left)} ago"
        if job.progress.get("in_flight"):
            state += f", running {job.progress['in_flight']}"
    else:
        state = job.note or ""
    return (f"{job.status:<8} {format_age(job.age_s(now)):>7}  {job.channel:<4} {_DIGITS.sub('*', job.lane):<28} "
            f"{job.attempts:>3}  {state}").rstrip()


def list_jobs(records, now: float | None = None) -> list[str]:
    """The report's lines: open jobs in queue order, then failed ones (kept a week)."""
    now = now or time.time()
    jobs = records.open_jobs() + records.failed_jobs()
    header = f"{'STATUS':<8} {'AGE':>7}  {'CHAN':<4} {'LANE':<28} {'TRY':>3}  LEASE / NOTE"
    counts = {status: sum(j.status == status for j in jobs) for status in ("pending", "running", "failed")}
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    return [header, *(job_line(job, now) for job in jobs), summary]
