"""/chat/send: one chat turn (the same agent.chat as web and SMS), as JSON or as server-sent events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from .. import budget
from ..agent import ErrorEvent, Final, TextDelta, ToolFinished, ToolStarted, chat
from ..errors import Delta3Error, StorageError
from ..workspace import Workspace
from . import idempotency
from .framework import Call, Model, Reply, operation
from .problems import Problem, retry_after

if TYPE_CHECKING:
    from delta3_core.services import Services

MAX_MESSAGE_CHARS = 32_000
OUTPUT_CLIP = 2_000  # characters of a tool's output in an answer; the whole of it went to the model
SSE = "text/event-stream"
# A failed turn's kind (agent ErrorEvent.kind) as an HTTP status: the caller's to fix (4xx) or ours/Google's (5xx).
ERROR_STATUS = {"empty_message": 422, "no_key": 409, "invalid_key": 422, "key_unreadable": 409, "quota": 429,
                "blocked": 422, "no_account": 401, "invalid": 422, "quota_full": 413, "not_found": 404,
                "storage": 503, "daily_limit": 429}


class SendBody(Model):
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS, examples=["Write fizzbuzz.py and run it"])


class ToolCall(BaseModel):
    name: str
    arguments: dict[str, Any]
    ok: bool
    output: str = Field(description=f"the tool's output, clipped to {OUTPUT_CLIP} characters")


class Usage(BaseModel):
    tokens_in: int = 0
    tokens_out: int = Field(0, description="the answer and the model's thinking (both billed as output)")
    thinking_tokens: int = Field(0, description="of tokens_out, those spent thinking")
    total_tokens: int = 0
    model_calls: int = 0


class TurnError(BaseModel):
    message: str
    kind: str


class ChatAnswer(BaseModel):
    """A whole turn: the answer text, the tools it ran, the files it changed, its token usage."""

    reply: str
    tool_calls: list[ToolCall]
    files_changed: list[str] = Field(description="workspace paths created, changed or deleted by this turn")
    usage: Usage
    error: TurnError | None = Field(None, description="set when the turn ended in an error (SSE final event)")


class TurnAccepted(BaseModel):
    """Accepted: the turn runs on; GET its status_url for the answer."""

    turn_id: str
    status: str = Field(description="pending or running")
    status_url: str = Field(description="GET /chat/turns/{turn_id}")


def clip(text: str, limit: int = OUTPUT_CLIP) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    return text if len(text) <= limit else f"{text[:limit]}\n… ({len(text) - limit:,} more characters)"


def _snapshot(ws: Workspace) -> dict[str, tuple[int, float]]:
    return {f.path: (f.size, f.mtime) for f in ws.list() if not f.is_dir}


READ_ONLY_TOOLS = frozenset({"read_file", "list_files"})


def turn_events(services: Services, user_id: str, message: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Run one API chat turn, yielding (SSE event name, data); the last is ("final", ChatAnswer as a dict)."""
    ws = Workspace(services.backend, user_id, services.settings.quota_bytes)
    before = None  # listed just before the first tool that may change files runs; a plain answer lists nothing
    text, reply, tools, starts, usage, error = [], None, [], {}, {}, None
    events = chat(services, user_id, message, channel="api")
    try:
        for event in events:
            if isinstance(event, TextDelta):
                text.append(event.text)
                yield "text", {"text": event.text}
            elif isinstance(event, ToolStarted):
                if before is None and event.name not in READ_ONLY_TOOLS:
                    before = _snapshot(ws)  # the agent runs the tool only after this event is handled
                starts[event.call_id] = event.args
                yield "tool_started", {"call_id": event.call_id, "name": event.name, "arguments": event.args}
            elif isinstance(event, ToolFinished):
                tool = ToolCall(name=event.name, arguments=starts.get(event.call_id, {}), ok=event.ok,
                                output=clip(event.result))
                tools.append(tool)
                yield "tool_finished", {"call_id": event.call_id, **tool.model_dump(), "images": event.images}
            elif isinstance(event, Final):
                reply, usage = event.text, event.usage
            elif isinstance(event, ErrorEvent):
                error = error or TurnError(message=event.message, kind=event.kind)
                yield "error", error.model_dump()
    finally:
        events.close()  # a client gone mid-stream: the agent saves what was done
    changed = []
    if before is not None:
        after = _snapshot(ws)
        changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    answer = ChatAnswer(reply=reply if reply is not None else "".join(text), tool_calls=tools, files_changed=changed,
                        usage=Usage(**{k: v for k, v in usage.items() if k in Usage.model_fields}), error=error)
    yield "final", answer.model_dump(mode="json")


def answer_status(answer: dict[str, Any], finished: bool = True) -> int:
    """200 for a turn that answered; the error's status for one that failed before answering."""
    error = answer.get("error")
    if not error or (finished and answer.get("reply") and error["kind"] == "storage"):
        return 200
    return ERROR_STATUS.get(error["kind"], 502)


def as_reply(answer: dict[str, Any]) -> Reply:
    """The JSON answer, or a problem+json when the turn failed."""
    status = answer_status(answer)
    if status == 200:
        return Reply(answer)
    error = answer["error"]
    wait = budget.seconds_to_reset() if error["kind"] == "daily_limit" else 60  # the budget resets at midnight UTC
    raise Problem(status, error["message"], retry_after(wait) if status == 429 else None)


def sse(name: str, data: dict[str, Any]) -> str:
    """One server-sent event."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _stream(events: Iterator[tuple[str, dict[str, Any]]], keep) -> Iterator[str]:
    try:
        for name, data in events:
            if name == "final":
                keep(data)
            yield sse(name, data)
    except Delta3Error as exc:  # the 200 is already sent: say it in the stream
        yield sse("error", {"message": str(exc), "kind": "storage" if isinstance(exc, StorageError) else "error"})
    finally:
        events.close()


def wants_stream(call: Call) -> bool:
    """True when the client asked for server-sent events."""
    return SSE in (call.request.headers.get("Accept") or "")


@operation("POST", "/chat/send", summary="Send a chat message", tag="chat", body=SendBody, response=ChatAnswer,
           errors=(404, 409, 502), responses={202: TurnAccepted},
           media={SSE: {"type": "string", "description": "events text, tool_started, tool_finished, error, "
                                                         "then final carrying the JSON answer"}})
def send(call: Call) -> Reply:
    """One chat turn. With `Accept: text/event-stream` the answer streams as server-sent events, the last one
    `final` carrying the same object as the JSON answer. With `Prefer: respond-async`, or when the turn runs
    longer than 25 s, the answer is 202 with a turn id: GET /chat/turns/{turn_id} gives it when done. An
    `Idempotency-Key` header makes a retry return the first answer instead of running the turn again."""
    key = idempotency.clean_key(call.request.headers.get(idempotency.HEADER))
    from . import turns  # the asynchronous form: 202 and GET /chat/turns/{id}

    if turns.wants_async(call):
        return turns.send_async(call, key)
    digest = idempotency.fingerprint(call.request.body)
    records = call.services.backend.records
    if key is not None and (saved := idempotency.begin(records, call.user_id, key, digest)) is not None:
        answer, headers = saved["answer"], {"Idempotent-Replayed": "true"}
        if wants_stream(call):
            return Reply(iter([sse("final", answer)]), media_type=SSE, headers=headers)
        reply = as_reply(answer)
        reply.headers.update(headers)
        return reply

    def keep(answer: dict[str, Any]) -> None:
        if key is not None:
            idempotency.finish(records, call.user_id, key, digest, answer_status(answer), answer)

    if not wants_stream(call) and turns.host(call.services) is not None and turns.host(call.services).workers:
        # A durable job: it survives a crash of the service, and past TURN_WAIT_S the client gets 202.
        queued = turns.send_queued(call, key)
        if isinstance(queued, Reply):
            return queued
        keep(queued)
        return as_reply(queued)
    events = turn_events(call.services, call.user_id, call.body.message)
    if wants_stream(call):
        return Reply(_stream(events, keep), media_type=SSE, headers={"X-Accel-Buffering": "no"})
    answer = {}
    for name, data in events:
        if name == "final":
            answer = data
    keep(answer)
    return as_reply(answer)
