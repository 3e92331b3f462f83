"""One chat turn: context in, model and tools in a bounded loop, events out, the turn saved at the end."""

from __future__ import annotations

import logging
import mimetypes
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.genai import types

from .. import budget, history, keys, usage
from ..checkpoints import Recorder
from ..errors import DailyLimitError, Delta3Error, ModelError
from ..storage.base import Message
from ..tools import ToolContext, ToolResult, declarations, run_tool
from . import models
from .context import code_has_network, history_contents, system_instruction, tool_record
from .events import ErrorEvent, Event, Final, TextDelta, ThoughtDelta, ToolFinished, ToolStarted
from .model import GeminiModel, Model, ModelReply, Thought, ToolCall

if TYPE_CHECKING:
    from delta3_core.services import Services

log = logging.getLogger(__name__)

LISTING_ENTRIES = 100  # files named in the system instruction; list_files shows the rest
MAX_INLINE_IMAGE = 5 * 1024 * 1024
BLOCKING_FINISH = {"SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY"}
MALFORMED_FINISH = {"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"}
THOUGHTS_KEPT = 20_000  # characters of thought summary kept with an answer (the web shows them folded)
ModelFactory = Callable[..., Model]  # (api_key, model, timeout_s, thinking=..., include_thoughts=...)


@dataclass
class Turn:
    """What one turn has produced so far; saved to history whichever way the turn ends."""

    services: Services
    user_id: str
    channel: str
    user_message: Message
    text: str = ""
    records: list[Message] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_thinking: int = 0
    thoughts: str = ""
    model_calls: int = 0
    saved: bool = False
    new_round: bool = False  # the next text starts a new model round (gets a blank line before it)
    api_key: str = field(default="", repr=False)
    model_name: str = ""
    thinking: str | None = None
    include_thoughts: bool = False
    notice: str = ""
    changes: Any = None  # the checkpoints.Recorder of this turn's file changes (for undo)

    @property
    def usage(self) -> dict[str, int]:
        """Token counts of the whole turn."""
        return {"tokens_in": self.tokens_in, "tokens_out": self.tokens_out, "thinking_tokens": self.tokens_thinking,
                "total_tokens": self.tokens_in + self.tokens_out, "model_calls": self.model_calls}

    def add_text(self, piece: str) -> str:
        """Append streamed text, separating the text of a new model round from the previous one."""
        if self.text and self.new_round and not self.text.endswith("\n"):
            piece = "\n\n" + piece
        self.new_round = False
        self.text += piece
        return piece

    def save(self, answer: str, meta: dict[str, Any]) -> str | None:
        """Store the turn and its usage; on failure return a sentence for the user instead of raising."""
        if self.saved:
            return None
        self.saved = True
        if self.thoughts:
            meta = {"thoughts": self.thoughts[:THOUGHTS_KEPT], **meta}
        meta = {**meta, **self._checkpoint()}
        reply = Message("assistant", answer, self.channel, meta={"usage": self.usage, "images": self.images, **meta})
        try:
            history.append(self.services.backend, self.user_id, [self.user_message, *self.records, reply])
        except Delta3Error as exc:
            log.warning("could not save the turn of user %s: %s", self.user_id, exc)
            return "Your conversation could not be saved just now; the next message may not remember this one."
        if self.model_calls:
            try:
                # tokens_out includes the thinking; the store keeps the two apart
                usage.record_usage(self.services.backend, self.user_id, self.tokens_in,
                                   self.tokens_out - self.tokens_thinking, self.tokens_thinking, self.model_name)
            except Delta3Error as exc:  # the turn is saved; only today's usage totals miss it
                log.warning("could not count the usage of user %s: %s", self.user_id, exc)
        return None

    def _checkpoint(self) -> dict[str, Any]:
        """Store the checkpoint of the files this turn changed; what the reply's meta says about it."""
        if self.changes is None:
            return {}
        try:
            record = self.changes.commit()
        except Delta3Error as exc:  # the files are changed and kept; only undo of this turn is lost
            log.warning("could not save the checkpoint of user %s: %s", self.user_id, exc)
            return {}
        if record is None:
            return {}
        from ..checkpoints.history import change_kind

        return {"checkpoint": {"turn": record.turn_id, "files": [
            {"path": c["path"], "kind": change_kind(c)} for c in record.data["changes"]]}}


def run_turn(services: Services, user_id: str, text: str, channel: str = "web", attachments: Iterable[str] = (),
             model_factory: ModelFactory | None = None) -> Iterator[Event]:
    """Answer one user message on `channel`, yielding events; the turn is saved however it ends."""
    attachments = [str(a) for a in attachments]
    if not (text or "").strip() and not attachments:
        yield ErrorEvent("Type a message first.", "empty_message")
        return
    meta = {"attachments": attachments} if attachments else {}
    turn = Turn(services, user_id, channel, Message("user", text, channel, time.time(), meta))
    turn.changes = Recorder(services, user_id, channel, text)
    try:
        for event in _converse(turn, attachments, model_factory or _gemini):
            if isinstance(event, Final):
                problem = turn.save(event.text, {})
                yield event
                if problem:
                    yield ErrorEvent(problem, "storage")
                return
            yield event
    except ModelError as exc:
        yield _fail(turn, _for_channel(exc, channel), exc.kind)
    except Delta3Error as exc:  # storage down, key unreadable...: the message is already a plain sentence
        yield _fail(turn, str(exc), _ERROR_KINDS.get(type(exc).__name__, "error"))
    except Exception:
        log.exception("chat turn of user %s failed", user_id)
        yield _fail(turn, "Something went wrong on our side; please try again.", "internal")
    finally:  # the reader stopped early (closed the page): keep what was done
        turn.save(turn.text, {"interrupted": True})


def _fail(turn: Turn, message: str, kind: str) -> ErrorEvent:
    answer = f"{turn.text}\n\n{message}" if turn.text else message
    problem = turn.save(answer, {"error": kind})
    if problem and kind != "storage":  # a storage error already says nothing was saved
        message = f"{message} {problem}"
    return ErrorEvent(message, kind)


def _gemini(api_key: str, model: str, timeout_s: float, **thinking: Any) -> Model:
    return GeminiModel(api_key, model, timeout_s, **thinking)


def _converse(turn: Turn, attachments: list[str], model_factory: ModelFactory) -> Iterator[Event]:
    """The model/tool loop of one turn; raises ModelError (or another Delta3Error) when it cannot go on."""
    settings = turn.services.settings
    model, contents, system, ctx = _prepare(turn, attachments, model_factory)
    tools = declarations()
    steps, malformed = 0, 0
    if turn.notice:  # the user's model was retired: say so first, then answer as usual
        yield TextDelta(turn.add_text(turn.notice))
    while True:
        try:
            reply = yield from _stream(turn, model, contents, system, tools)
        except ModelError as exc:
            # A model retired since the list was cached answers 404: move to another, keep the turn going.
            if exc.kind != "not_found" or turn.model_calls > 1:
                raise
            model = yield from _switch_model(turn, model_factory, exc)
            reply = yield from _stream(turn, model, contents, system, tools)
        if reply.block_reason or (reply.finish_reason in BLOCKING_FINISH and not reply.calls):
            reason = (reply.block_reason or reply.finish_reason or "").lower().replace("_", " ")
            raise ModelError(f"Gemini declined to answer this ({reason}); try rephrasing your message.", "blocked")
        if reply.finish_reason in MALFORMED_FINISH and not reply.calls:
            malformed += 1
            if malformed > 1:
                raise ModelError("Gemini could not form a valid tool call; please try again or rephrase.",
                                 "malformed")
            if reply.content:
                contents.append(reply.content)
            contents.append(types.Content(role="user", parts=[types.Part(
                text="Your last function call was malformed. Call the tool again with valid arguments.")]))
            continue
        if not reply.calls:
            if not turn.text.strip():
                raise ModelError("Gemini sent an empty answer; please try again.", "empty")
            if reply.finish_reason == "MAX_TOKENS":
                yield TextDelta(turn.add_text(" …\n\n(The answer was cut off at Gemini's length limit; "
                                              "say \"continue\" for the rest.)"))
            yield Final(turn.text, turn.usage, list(turn.images))
            return
        contents.append(reply.content or types.Content(role="model", parts=[]))
        steps_left = settings.max_tool_steps - steps
        responses = yield from _run_calls(turn, ctx, reply.calls, steps_left)
        steps += min(steps_left, len(reply.calls))
        contents.append(types.Content(role="user", parts=responses))
        if len(reply.calls) > steps_left:  # the model wants more than the limit allows: stop here, plainly
            turn.new_round = True
            yield TextDelta(turn.add_text(f"I stopped after {settings.max_tool_steps} tool steps, the limit for "
                                          "one message. Say \"continue\" if you want me to go on."))
            yield Final(turn.text, turn.usage, list(turn.images))
            return


def _prepare(turn: Turn, attachments: list[str], model_factory: ModelFactory
             ) -> tuple[Model, list[types.Content], str, ToolContext]:
    """The user's model (with their key), the conversation so far plus the new message, and the system text."""
    services, settings = turn.services, turn.services.settings
    user = services.backend.records.get_user(turn.user_id)
    if user is None:
        turn.saved = True  # nothing to save a turn to
        raise ModelError("Your account could not be found; please log in again.", "no_account")
    try:  # checked here, in the one turn every channel runs, so no channel can skip the budget
        budget.check_daily_limit(services, user)
    except DailyLimitError:
        turn.saved = True  # a refused message is not kept: the user sends it again after the reset
        raise
    api_key = keys.gemini_key_of(services.backend, user)
    if not api_key:
        raise ModelError(_NO_KEY.get(turn.channel, _NO_KEY["web"]), "no_key")
    turn.api_key, choice = api_key, models.model_for_turn(services, user)
    turn.thinking = choice.thinking if choice.supports_thinking else None
    # Thought summaries are shown on the web only; a model that does not think would refuse the request.
    turn.include_thoughts = turn.channel == "web" and choice.supports_thinking
    model = _make_model(turn, model_factory, choice.name)
    turn.notice = choice.notice
    ctx = ToolContext(services, turn.user_id, turn.changes)
    contents = history_contents(history.context(services.backend, turn.user_id))
    message = _user_content(ctx, turn.user_message.content, attachments)
    if contents and contents[-1].role == "user":  # the last turn failed: one user turn with both messages
        contents[-1].parts.extend(message.parts)
    else:
        contents.append(message)
    system = system_instruction(turn.channel, ctx.workspace.describe(max_entries=LISTING_ENTRIES),
                                code_has_network(settings))
    return model, contents, system, ctx


def _make_model(turn: Turn, model_factory: ModelFactory, name: str) -> Model:
    turn.model_name = name
    return model_factory(turn.api_key, name, turn.services.settings.model_timeout_s, thinking=turn.thinking,
                         include_thoughts=turn.include_thoughts)


def _switch_model(turn: Turn, model_factory: ModelFactory, error: ModelError) -> Iterator[Event]:
    """After a 404 for the turn's model: use another, telling the user if it was their choice (once: it is cleared)."""
    replacement, notice = models.replacement_for(turn.services, turn.user_id, turn.model_name)
    if not replacement:
        raise error
    turn.model_calls -= 1  # the refused call produced nothing
    if notice:
        yield TextDelta(turn.add_text(notice))
    return _make_model(turn, model_factory, replacement)


def _keep_checkpoint(turn: Turn) -> None:
    """Store the checkpoint so far, so a turn whose worker dies (durable turns) can still be undone."""
    if turn.changes is None:
        return
    try:
        turn.changes.keep()
    except Delta3Error as exc:  # the final commit tries again
        log.warning("could not keep the checkpoint of user %s: %s", turn.user_id, exc)


def _run_calls(turn: Turn, ctx: ToolContext, calls: list[ToolCall], budget: int) -> Iterator[Event]:
    """Run up to `budget` of the calls, recording each; returns the function responses for all of them."""
    responses = []
    for index, call in enumerate(calls):
        if index >= budget:
            result = ToolResult(False, "Not run: the limit of tool steps for this message was reached.")
        else:
            yield ToolStarted(call.call_id, call.name, call.args)
            result = run_tool(ctx, call.name, call.args)
            turn.images.extend(p for p in result.images if p not in turn.images)
            turn.records.append(tool_record(call.name, call.args, result.ok, result.text, call.call_id,
                                            turn.channel))
            turn.records[-1].meta["at"] = len(turn.text)  # where in the answer it ran: the web redraws it there
            _keep_checkpoint(turn)
            yield ToolFinished(call.call_id, call.name, result.ok, result.text, list(result.images))
        responses.append(types.Part(function_response=types.FunctionResponse(
            id=call.call_id if call.sent_id else None, name=call.name,
            response={"output": result.text} if result.ok else {"error": result.text})))
    return responses


def _stream(turn: Turn, model: Model, contents: list[types.Content], system: str,
            tools: list[types.FunctionDeclaration]) -> Iterator[Event]:
    """One model call: text deltas out as they come; returns the ModelReply (via StopIteration)."""
    turn.new_round = True
    turn.model_calls += 1
    reply, thought_before = ModelReply(), bool(turn.thoughts)
    for item in model.stream(contents, system, tools):
        if isinstance(item, str):
            yield TextDelta(turn.add_text(item))
        elif isinstance(item, Thought):
            piece = ("\n\n" if thought_before else "") + item.text  # each model round's thoughts a paragraph
            thought_before = False
            turn.thoughts += piece
            yield ThoughtDelta(piece)
        else:
            reply = item
    turn.tokens_in += reply.tokens_in
    turn.tokens_out += reply.tokens_out
    turn.tokens_thinking += reply.tokens_thinking
    return reply


def _user_content(ctx: ToolContext, text: str, attachments: list[str]) -> types.Content:
    """The new user message; attached pictures are shown to the model, other files named."""
    parts = [types.Part(text=text)] if text.strip() else []
    if attachments:
        parts.append(types.Part(text="(Attached, saved in the workspace: " + ", ".join(attachments) + ")"))
    for path in attachments:
        mime = mimetypes.guess_type(path)[0] or ""
        if not mime.startswith("image/") or mime == "image/svg+xml":
            continue
        try:
            data = ctx.workspace.read_bytes(path)
        except Delta3Error:
            continue  # named above; the model can still look at it with its tools
        if len(data) <= MAX_INLINE_IMAGE:
            parts.append(types.Part.from_bytes(data=data, mime_type=mime))
    return types.Content(role="user", parts=parts)


_NO_KEY = {
    "web": "Add your Gemini API key in Settings first (you can get one free at https://aistudio.google.com/apikey).",
    "sms": "Send KEY <your-gemini-api-key> first (get one free at aistudio.google.com/apikey).",
    "api": "Save your Gemini API key first with POST /auth/gemini-key (get one free at "
           "https://aistudio.google.com/apikey).",
}
_ERROR_KINDS = {"DailyLimitError": "daily_limit", "KeyDecryptError": "key_unreadable",
                "StorageError": "storage", "QuotaExceededError": "quota_full",
                "NotFoundError": "not_found", "ValidationError": "invalid"}
_KEY_FIX = {"web": " Save a valid one in Settings.", "sms": " Send KEY <your-gemini-api-key> to replace it.",
            "api": " Save a valid one with POST /auth/gemini-key."}
_MODEL_FIX = {"web": " Pick another in Settings.", "sms": " Text MODEL to see the ones you can use.",
              "api": " GET /models lists the ones you can use."}


def _for_channel(exc: ModelError, channel: str) -> str:
    """The error sentence, plus where this channel's user fixes their key."""
    message = str(exc)
    if exc.kind == "invalid_key":
        message += _KEY_FIX.get(channel, _KEY_FIX["web"])
    elif exc.kind == "not_found":
        message += _MODEL_FIX.get(channel, _MODEL_FIX["web"])
    return message
