"""The durable turn queue on SQLite: one `jobs` row per accepted message (see delta3_core/turns)."""

from __future__ import annotations

import time

from ..turns.jobs import DONE, FAILED, FINISHED_TTL_S, OPEN, PENDING, RUNNING, JobRecord, LeaseLost

MIGRATION = ("004_durable_turn_jobs", """
    CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY, queue_key TEXT NOT NULL UNIQUE, status TEXT NOT NULL, owner TEXT,
        attempts INTEGER NOT NULL, lease_until REAL NOT NULL, finished_at REAL, data TEXT NOT NULL);
    CREATE INDEX jobs_open ON jobs(status, queue_key);
""")
_CLEAN_EVERY = 200  # enqueues between sweeps of week-old finished jobs


def enqueue_job(store, job: JobRecord, claim_key: str, claim_ttl_s: int) -> bool:
    """Claim `claim_key` and write the job in one transaction; False (nothing written) if claimed before."""
    now = time.time()
    with store._tx() as tx:
        tx.execute("DELETE FROM claims WHERE expires_at <= ?", (now,))
        if tx.execute("INSERT OR IGNORE INTO claims VALUES (?, ?)", (claim_key, now + claim_ttl_s)).rowcount != 1:
            return False
        tx.execute("INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (job.job_id, job.queue_key, job.status, job.owner, job.attempts, job.lease_until,
                    job.finished_at, job.dumps()))
        if int(job.queue_key[:20]) % _CLEAN_EVERY == 0:
            tx.execute("DELETE FROM jobs WHERE status IN (?, ?) AND finished_at < ?", (DONE, FAILED,
                                                                                     now - FINISHED_TTL_S))
    return True


def get_job(store, job_id: str) -> JobRecord | None:
    """The job, open or finished (finished ones are kept a week)."""
    rows = store._read("SELECT data FROM jobs WHERE job_id = ?", (job_id,))
    return JobRecord.loads(rows[0]["data"]) if rows else None


def list_jobs(store, statuses: tuple[str, ...], limit: int) -> list[JobRecord]:
    """Jobs in any of `statuses`, oldest first."""
    marks = ", ".join("?" * len(statuses))
    rows = store._read(f"SELECT data FROM jobs WHERE status IN ({marks}) ORDER BY queue_key LIMIT ?",
                       (*statuses, limit))
    return [JobRecord.loads(r["data"]) for r in rows]


def open_jobs(store, limit: int) -> list[JobRecord]:
    """Pending and running jobs, in queue order."""
    return list_jobs(store, OPEN, limit)


def failed_jobs(store, limit: int) -> list[JobRecord]:
    """Failed jobs (kept a week), oldest first."""
    return list_jobs(store, (FAILED,), limit)


def lease_job(store, job: JobRecord, owner: str, lease_s: float) -> JobRecord | None:
    """Take `job` if it is still as seen (same attempt) and pending or out of lease; None if someone was first."""
    now = time.time()
    taken = JobRecord.loads(job.dumps())
    taken.status, taken.owner, taken.attempts, taken.lease_until = RUNNING, owner, job.attempts + 1, now + lease_s
    taken.started_at = taken.started_at or now
    with store._tx() as tx:
        cursor = tx.execute(
            "UPDATE jobs SET status = ?, owner = ?, attempts = ?, lease_until = ?, data = ? WHERE job_id = ? "
            "AND attempts = ? AND (status = ? OR (status = ? AND lease_until < ?))",
            (RUNNING, owner, taken.attempts, taken.lease_until, taken.dumps(), job.job_id, job.attempts,
             PENDING, RUNNING, now))
        return taken if cursor.rowcount == 1 else None


def save_job(store, job: JobRecord) -> None:
    """Write the job as its lease holder; LeaseLost if another worker has taken it since."""
    with store._tx() as tx:
        cursor = tx.execute(
            "UPDATE jobs SET status = ?, lease_until = ?, finished_at = ?, data = ? "
            "WHERE job_id = ? AND owner = ? AND attempts = ?",
            (job.status, job.lease_until, job.finished_at, job.dumps(), job.job_id, job.owner, job.attempts))
        if cursor.rowcount != 1:
            raise LeaseLost("Another worker has taken this job.")


def delete_user_jobs(store, user_id: str, phone: str | None) -> None:
    """Delete every job of a deleted account: its API turns, and the SMS sent from its phone."""
    with store._tx() as tx:
        tx.execute("DELETE FROM jobs WHERE json_extract(data, '$.user_id') = ? "
                   "OR json_extract(data, '$.address.phone') = ?", (user_id, phone))
