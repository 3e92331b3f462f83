"""The durable turn queue on DynamoDB (see delta3_core/turns), in the one table.

    JOBQ          / <queue key>   an open job (pending or running): job (JSON), status, owner, attempts,
                                  lease_until. One partition, read with one Query in queue order: open
                                  jobs are few (each is answered within minutes), far under its limits.
    JOB#<id>      / JOB           while open, a pointer (queue_key); once finished, the job itself, with ttl
    JOBFAILED     / <queue key>   a copy of each failed job, for `python -m delta3_core jobs` (ttl: a week)

Accepting a message is one TransactWriteItems: the claim (ONCE#...) and both job items, or nothing.
"""

from __future__ import annotations

import time
from typing import Any

from ..turns.jobs import FAILED, FINISHED_TTL_S, PENDING, RUNNING, JobRecord, LeaseLost
from .dynamo_items import ConditionFailed, decode_item, encode_item, item_key, number

QUEUE_PK, FAILED_PK = "JOBQ", "JOBFAILED"


def _queue_item(job: JobRecord) -> dict[str, Any]:
    return {**item_key(QUEUE_PK, job.queue_key), **encode_item(
        job=job.dumps(), status=job.status, owner=job.owner or "-", attempts=job.attempts,
        lease_until=job.lease_until)}


def _fence(job: JobRecord) -> dict[str, Any]:
    return {"ConditionExpression": "#o = :o AND attempts = :a", "ExpressionAttributeNames": {"#o": "owner"},
            "ExpressionAttributeValues": {":o": {"S": job.owner or "-"}, ":a": number(job.attempts)}}


def enqueue_job(table, job: JobRecord, claim_key: str, claim_ttl_s: int) -> bool:
    """Claim `claim_key` and write the job in one transaction; False (nothing written) if claimed before."""
    now = time.time()
    try:
        table._transact([
            {"Put": {"Item": {**item_key(f"ONCE#{claim_key}", "ONCE"),
                              **encode_item(expires_at=now + claim_ttl_s, ttl=int(now + claim_ttl_s) + 1)},
                     "ConditionExpression": "attribute_not_exists(pk) OR expires_at <= :now",
                     "ExpressionAttributeValues": {":now": number(now)}}},
            {"Put": {"Item": _queue_item(job), "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"Item": {**item_key(f"JOB#{job.job_id}", "JOB"), **encode_item(queue_key=job.queue_key)},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
    except ConditionFailed:
        return False
    return True


def get_job(table, job_id: str) -> JobRecord | None:
    """The job, open (through its pointer) or finished (kept a week)."""
    for _ in range(2):  # the job may finish between reading the pointer and the queue item
        item = table._get(f"JOB#{job_id}", "JOB")
        if item is None:
            return None
        if "job" in item:
            return JobRecord.loads(item["job"]) if item.get("expires_at", float("inf")) > time.time() else None
        queued = table._get(QUEUE_PK, item["queue_key"])
        if queued is not None:
            return JobRecord.loads(queued["job"])
    return None


def query_jobs(table, pk: str, limit: int) -> list[JobRecord]:
    """The jobs of partition `pk` (JOBQ or JOBFAILED) in queue order, at most `limit`."""
    request: dict[str, Any] = {"KeyConditionExpression": "pk = :pk", "ConsistentRead": True,
                               "ExpressionAttributeValues": {":pk": {"S": pk}}}
    jobs: list[JobRecord] = []
    now = time.time()
    while len(jobs) < limit:  # by hand: each page asks only for the jobs still missing (Limit)
        page = table._call("query", Limit=limit - len(jobs), **request)
        jobs += [JobRecord.loads(item["job"]) for item in map(decode_item, page["Items"])
                 if item.get("expires_at", float("inf")) > now]
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return jobs


def lease_job(table, job: JobRecord, owner: str, lease_s: float) -> JobRecord | None:
    """Take `job` if it is still as seen (same attempt) and pending or out of lease; None if someone was first."""
    now = time.time()
    taken = JobRecord.loads(job.dumps())
    taken.status, taken.owner, taken.attempts, taken.lease_until = RUNNING, owner, job.attempts + 1, now + lease_s
    taken.started_at = taken.started_at or now
    try:
        table._call("put_item", Item=_queue_item(taken),
                    ConditionExpression="attempts = :a AND (#s = :p OR (#s = :r AND lease_until < :now))",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":a": number(job.attempts), ":p": {"S": PENDING},
                                               ":r": {"S": RUNNING}, ":now": number(now)})
    except ConditionFailed:
        return None
    return taken


def save_job(table, job: JobRecord) -> None:
    """Write the job as its lease holder; a finished job leaves the queue. LeaseLost if another worker has it."""
    try:
        if job.is_open:
            table._call("put_item", Item=_queue_item(job), **_fence(job))
            return
        expires = time.time() + FINISHED_TTL_S
        kept = encode_item(job=job.dumps(), status=job.status, expires_at=expires, ttl=int(expires) + 1)
        actions: list[dict[str, Any]] = [
            {"Delete": {"Key": item_key(QUEUE_PK, job.queue_key), **_fence(job)}},
            {"Put": {"Item": {**item_key(f"JOB#{job.job_id}", "JOB"), **kept}}},
        ]
        if job.status == FAILED:
            actions.append({"Put": {"Item": {**item_key(FAILED_PK, job.queue_key), **kept}}})
        table._transact(actions)
    except ConditionFailed:
        raise LeaseLost("Another worker has taken this job.") from None


def delete_user_jobs(table, user_id: str, phone: str | None) -> None:
    """Delete every job of a deleted account (API turns, SMS from its phone): one Scan of the job items.

    Jobs are keyed by queue order, not by user, and deletions are rare: a Scan beats an index kept on
    every message.
    """
    request: dict[str, Any] = {"TableName": table.table, "FilterExpression": "begins_with(pk, :job)",
                               "ConsistentRead": True, "ExpressionAttributeValues": {":job": {"S": "JOB"}}}
    keys: dict[tuple[str, str], dict[str, Any]] = {}
    while True:
        page = table._call("scan", **request)
        for item in map(decode_item, page["Items"]):
            if "job" not in item:
                continue  # an open job's pointer: its queue item names the job
            job = JobRecord.loads(item["job"])
            if job.user_id == user_id or (phone and job.address.get("phone") == phone):
                for pk, sk in ((QUEUE_PK, job.queue_key), (f"JOB#{job.job_id}", "JOB"), (FAILED_PK, job.queue_key)):
                    keys[(pk, sk)] = item_key(pk, sk)
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    found = [{"DeleteRequest": {"Key": key}} for key in keys.values()]
    for start in range(0, len(found), 25):
        table._batch_write(found[start:start + 25])
