"""Asynchronous chat turns: `POST /chat/send` with `Prefer: respond-async` (or a turn that outlives the
wait) answers 202 with a turn id; `GET /chat/turns/{turn_id}` gives its status and, once done, the same
JSON as /chat/send. The turn is a durable job (delta3_core/turns): it survives a crash of the service."""

from __future__ import annotations

import hashlib
import uuid
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ..turns.jobs import DONE, FAILED, JobRecord
from ..turns.resume import STALE_TEXT, ProgressRecorder, interrupted_answer, saved_answer
from ..turns.runner import INTERRUPTED, Lease
from .chat import ChatAnswer, ToolCall, TurnAccepted, TurnError, Usage, turn_events
from .framework import Call, Reply, operation
from .problems import Problem

if TYPE_CHECKING:
    from delta3_core.services import Services

CHANNEL = "api"
CLAIM_TTL_S = 24 * 3600  # an Idempotency-Key names the same turn for a day
TURN_WAIT_S = 25.0  # a synchronous turn still running after this answers 202 (API Gateway cuts at 30 s)
POLL_AFTER_S = 2


class TurnStatus(BaseModel):
    """A turn's state; `answer` is set once it is done (the same JSON as POST /chat/send)."""

    turn_id: str
    status: str = Field(description="pending, running, done or failed")
    created_at: float
    answer: ChatAnswer | None = None


def wants_async(call: Call) -> bool:
    """True when the client sent `Prefer: respond-async` (RFC 7240)."""
    prefer = call.request.headers.get("Prefer") or ""
    return any(p.strip().split("=")[0].lower() == "respond-async" for p in prefer.split(","))


def host(services: Services) -> Any:
    """This process's TurnHost (set up by the HTTP service), or None."""
    return getattr(services, "turns", None)


def accept(call: Call, message: str, key: str | None) -> JobRecord:
    """Store the turn as a job (the same job again for a retried Idempotency-Key) and start it."""
    records = call.services.backend.records
    name = hashlib.sha256(f"{call.user_id}\0{key}".encode("utf-8", "surrogatepass")).hexdigest()[:32] if key else None
    job = JobRecord.new(f"api-{name or uuid.uuid4().hex}", CHANNEL, f"api:{call.user_id}", message,
                        user_id=call.user_id)
    if not records.enqueue_job(job, f"api:turn:{job.job_id}", CLAIM_TTL_S):
        existing = records.get_job(job.job_id)
        if existing is None or existing.text != message:
            raise Problem(422, "This Idempotency-Key was used for a different request; use a new key.")
        return existing
    turns = host(call.services)
    if turns is not None:
        turns.submit(job)
    return job


def accepted(job: JobRecord) -> Reply:
    """202 with the turn id and where to ask for it."""
    url = f"/chat/turns/{job.job_id}"
    body = TurnAccepted(turn_id=job.job_id, status=job.status if job.status in ("pending", "running") else "running",
                        status_url=url)
    return Reply(body, 202, headers={"Location": url, "Retry-After": str(POLL_AFTER_S)})


def send_async(call: Call, key: str | None) -> Reply:
    """POST /chat/send with Prefer: respond-async."""
    return accepted(accept(call, call.body.message, key))


def send_queued(call: Call, key: str | None) -> dict[str, Any] | Reply:
    """A synchronous turn run as a durable job: its answer within TURN_WAIT_S, else a 202 Reply."""
    job = accept(call, call.body.message, key)
    answer = job.reply if job.status == DONE else host(call.services).wait_reply(job, TURN_WAIT_S)
    return answer if answer is not None else accepted(job)


@operation("GET", "/chat/turns/{turn_id}", summary="Get an asynchronous chat turn", tag="chat",
           response=TurnStatus, errors=(404,))
def get_turn(call: Call) -> TurnStatus:
    """The state of a turn started with `Prefer: respond-async` (or one that outlived the wait); when done,
    `answer` is what POST /chat/send answers. A turn cut off by a restart of the service says so in its answer."""
    job = call.services.backend.records.get_job(call.request.path_params["turn_id"])
    if job is None or job.channel != CHANNEL or job.user_id != call.user_id:
        raise Problem(404, "There is no such turn (turns are kept a week).")
    done = job.status in (DONE, FAILED)
    answer = job.reply if done and job.reply else None
    if job.status == FAILED and answer is None:
        answer = _error_answer(job.note or "The turn failed.", "internal")
    return TurnStatus(turn_id=job.job_id, status=job.status, created_at=job.received_at,
                      answer=ChatAnswer.model_validate(answer) if answer else None)


def _error_answer(message: str, kind: str, reply: str = "") -> dict[str, Any]:
    return ChatAnswer(reply=reply, tool_calls=[], files_changed=[], usage=Usage(),
                      error=TurnError(message=message, kind=kind)).model_dump(mode="json")


class ApiJobs:
    """The turn runner's handler for the API's turns: the answer stays in the job for GET /chat/turns/{id}."""

    def __init__(self, services: Services):
        self.services = services

    def run(self, lease: Lease) -> dict:
        """Run the turn, recording progress before each tool; the /chat/send JSON."""
        job, recorder, answer = lease.job, ProgressRecorder(lease), {}
        for name, data in turn_events(self.services, job.user_id, job.text):
            if name == "text":
                recorder.text(data["text"])
            elif name == "tool_started":
                recorder.tool_started(data["name"])
            elif name == "tool_finished":
                recorder.tool_finished()
            elif name == "final":
                answer = data
        return answer

    def resume(self, lease: Lease) -> dict | None:
        """After a crash: the answer the turn saved, or what it did before a tool call; None to run again."""
        job = lease.job
        saved = saved_answer(self.services, job.user_id, job, CHANNEL)
        if saved is not None:
            return ChatAnswer(reply=saved.content, tool_calls=[], files_changed=[],
                              usage=Usage()).model_dump(mode="json")
        text = interrupted_answer(self.services, job.user_id, job, CHANNEL)
        if text is None:
            return None
        lease.save(note=INTERRUPTED)
        tools = [ToolCall(name=name, arguments={}, ok=False, output="(interrupted)")
                 for name in job.progress.get("tools", [])]
        return ChatAnswer(reply=text, tool_calls=tools, files_changed=[], usage=Usage()).model_dump(mode="json")

    def stale(self, job: JobRecord) -> dict:
        """Too late to answer: please send it again."""
        return _error_answer(STALE_TEXT, "interrupted")

    def deliver(self, lease: Lease, reply: dict) -> None:
        """Nothing to send: the client asks with GET /chat/turns/{id}."""
