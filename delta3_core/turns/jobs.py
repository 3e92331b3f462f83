"""The durable turn job: what a channel accepted, who holds it, and how far it got."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import ConflictError

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
OPEN = (PENDING, RUNNING)
FINISHED_TTL_S = 7 * 24 * 3600  # done and failed jobs are kept a week: replays, GET /chat/turns/{id}, `jobs`


class LeaseLost(ConflictError):
    """Another worker took this job (our lease ran out): stop, and write nothing more."""


@dataclass
class JobRecord:
    """One accepted message. `lane` orders jobs (one phone, one user); `queue_key` is the order within it.

    `owner`/`attempts` fence writes: a worker may save the job only while both are still its own.
    `progress` is what the running turn has done so far (text, tools run, a tool in flight);
    `reply` is the finished answer (channel-specific JSON); `outbox` records each outgoing message
    before (`intent`) and after (`sid`) it is sent, so a resumed job never sends one twice.
    """

    job_id: str
    channel: str
    lane: str
    text: str
    user_id: str | None = None
    address: dict[str, Any] = field(default_factory=dict)
    received_at: float = 0.0
    queue_key: str = ""
    status: str = PENDING
    owner: str | None = None
    lease_until: float = 0.0
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    reply: dict[str, Any] | None = None
    outbox: dict[str, Any] = field(default_factory=dict)
    note: str | None = None  # why it failed, or how it ended (interrupted, stale)

    @classmethod
    def new(cls, job_id: str, channel: str, lane: str, text: str, **values: Any) -> JobRecord:
        """A pending job received now; its queue key sorts by arrival (nanoseconds), then id."""
        now_ns = time.time_ns()
        return cls(job_id=job_id, channel=channel, lane=lane, text=text, received_at=now_ns / 1e9,
                   queue_key=f"{now_ns:020d}#{job_id}", **values)

    @property
    def is_open(self) -> bool:
        """Still to be answered (pending, or running under some worker's lease)."""
        return self.status in OPEN

    def age_s(self, now: float | None = None) -> float:
        """Seconds since the message was accepted."""
        return (now or time.time()) - self.received_at

    def leasable(self, now: float | None = None) -> bool:
        """Pending, or running under a lease that ran out (its worker died or hung)."""
        now = now or time.time()
        return self.status == PENDING or (self.status == RUNNING and self.lease_until < now)

    def dumps(self) -> str:
        """The whole job as JSON text (what the stores keep)."""
        return json.dumps(asdict(self), separators=(",", ":"), default=str)

    @classmethod
    def loads(cls, text: str) -> JobRecord:
        """The job back from `dumps` (unknown keys, from a newer version, are ignored)."""
        data = json.loads(text)
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def lane_heads(jobs: list[JobRecord]) -> list[JobRecord]:
    """The first open job of each lane, in queue order: only a lane's head may run (keeps its order)."""
    heads: dict[str, JobRecord] = {}
    for job in sorted(jobs, key=lambda j: j.queue_key):
        heads.setdefault(job.lane, job)
    return list(heads.values())
