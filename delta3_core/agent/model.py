"""Model access: a one-method interface, and its google-genai implementation."""

from __future__ import annotations

import http.cookiejar
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from google import genai
from google.genai import types

from ..errors import ModelError
from .errors import RetryPolicy, classify, genai_httpx


@dataclass
class ToolCall:
    """One function call the model asked for."""

    call_id: str
    name: str
    args: dict[str, Any]
    sent_id: bool = False  # the model gave the id itself, so the response must echo it


@dataclass
class Thought:
    """A piece of the model's thought summary (asked for with include_thoughts); never part of the answer."""

    text: str


@dataclass
class ModelReply:
    """A whole model turn: its text, its tool calls, and what to send back next time."""

    text: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    content: types.Content | None = None
    tokens_in: int = 0
    tokens_out: int = 0  # answer and thinking: both are billed as output
    tokens_thinking: int = 0
    finish_reason: str | None = None
    block_reason: str | None = None


class Model(Protocol):
    """What the loop needs from a model: one streaming call."""

    def stream(self, contents: list[types.Content], system_instruction: str,
               tools: list[types.FunctionDeclaration]) -> Iterator[str | Thought | ModelReply]:
        """Yield text deltas (and thought pieces) as they arrive, then exactly one ModelReply."""


_transport_lock = threading.Lock()
_transport: dict[str, Any] = {}


def _shared_transport() -> dict[str, Any]:
    """HTTP connection pools shared by all requests; they hold no key (keys are per-Client headers).

    Building them per request costs ~60 ms (CA bundle loading); cookies are refused so nothing
    learnt from one user's response can ride along on another user's request.
    """
    with _transport_lock:
        if not _transport:
            no_cookies = http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
            _transport["httpx_client"] = genai_httpx.Client(cookies=no_cookies)
            _transport["httpx_async_client"] = genai_httpx.AsyncClient(cookies=no_cookies)
            _transport["async_client_args"] = {"ssl": ssl.create_default_context()}
        return dict(_transport)


def make_client(api_key: str, timeout_s: float) -> genai.Client:
    """A google-genai client for one request with one user's key.

    No base_url or api_version is passed, so google-genai's own GOOGLE_GEMINI_BASE_URL (and its
    other variables) keep working; retries are ours (see RetryPolicy), so the SDK's are off.
    """
    options = types.HttpOptions(timeout=int(timeout_s * 1000), **_shared_transport())
    return genai.Client(api_key=api_key, http_options=options)


class GeminiModel:
    """The Gemini implementation of Model: a fresh client per turn with that user's key.

    `thinking` is a thinking level ("low", "high", ...) or None for the model's default; `include_thoughts`
    asks for thought summaries. Give either only for a model that thinks: others refuse the request.
    """

    def __init__(self, api_key: str, model: str, timeout_s: float = 300.0, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep, thinking: str | None = None,
                 include_thoughts: bool = False):
        self.model = model
        self.timeout_s = timeout_s
        self.thinking_config = _thinking_config(model, thinking, include_thoughts)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._client = make_client(api_key, timeout_s)

    def stream(self, contents: list[types.Content], system_instruction: str,
               tools: list[types.FunctionDeclaration]) -> Iterator[str | Thought | ModelReply]:
        """Stream one model turn; retry failures that happen before any text has been shown."""
        config = types.GenerateContentConfig(
            system_instruction=system_instruction,
            tools=[types.Tool(function_declarations=tools)] if tools else None,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            thinking_config=self.thinking_config,
        )
        waited = 0.0
        for attempt in range(1, self.retry.attempts + 1):
            yielded = False
            try:
                for item in self._stream_once(contents, config):
                    yielded = yielded or isinstance(item, (str, Thought))
                    yield item
                return
            except Exception as exc:  # classify() re-raises what is not a model/network failure
                failure = classify(exc, model=self.model, timeout_s=self.timeout_s, attempt=attempt,
                                   policy=self.retry)
                delay = failure.retry_after
                if (yielded or delay is None or attempt == self.retry.attempts
                        or waited + delay > self.retry.max_wait_s):
                    raise failure.error from None  # from None: the SDK's text may quote request details
                self._sleep(delay)
                waited += delay

    def _stream_once(self, contents: list[types.Content], config: types.GenerateContentConfig
                     ) -> Iterator[str | Thought | ModelReply]:
        reply = ModelReply()
        parts: list[types.Part] = []
        for chunk in self._client.models.generate_content_stream(model=self.model, contents=contents, config=config):
            if chunk.usage_metadata:  # cumulative: the last one counts
                usage = chunk.usage_metadata
                reply.tokens_in = usage.prompt_token_count or 0
                reply.tokens_thinking = usage.thoughts_token_count or 0
                reply.tokens_out = (usage.candidates_token_count or 0) + reply.tokens_thinking
            if chunk.prompt_feedback and chunk.prompt_feedback.block_reason:
                reply.block_reason = _enum_name(chunk.prompt_feedback.block_reason)
            for candidate in (chunk.candidates or [])[:1]:
                if candidate.finish_reason:
                    reply.finish_reason = _enum_name(candidate.finish_reason)
                for part in (candidate.content.parts if candidate.content else None) or []:
                    parts.append(part)  # kept whole: thought signatures must go back unchanged, on this part
                    if part.text and part.thought:
                        yield Thought(part.text)
                    elif part.text:
                        reply.text += part.text
                        yield part.text
                    if part.function_call:
                        reply.calls.append(_tool_call(part.function_call, len(reply.calls)))
        if parts:
            reply.content = types.Content(role="model", parts=parts)
        yield reply


def check_key(api_key: str, timeout_s: float = 20.0) -> None:
    """One cheap authenticated call (list one model); ModelError when the key does not work."""
    if not api_key or not api_key.strip():
        raise ModelError("Enter a Gemini API key first.", "invalid_key")
    client = make_client(api_key, timeout_s)
    try:
        client.models.list(config={"page_size": 1})
    except Exception as exc:
        failure = classify(exc, model="", timeout_s=timeout_s, attempt=1, policy=RetryPolicy())
        raise failure.error from None


def fetch_models(api_key: str, timeout_s: float = 10.0) -> list[tuple[str, str, bool]]:
    """The models this key can call generateContent on: (name, display name, accepts a thinking level)."""
    client = make_client(api_key, timeout_s)
    found = []
    try:
        for model in client.models.list(config={"page_size": 100}):
            if "generateContent" not in (model.supported_actions or []):
                continue
            name = (model.name or "").removeprefix("models/")
            found.append((name, model.display_name or name, bool(model.thinking)))
    except Exception as exc:
        failure = classify(exc, model="", timeout_s=timeout_s, attempt=1, policy=RetryPolicy())
        raise failure.error from None
    if not found:
        raise ModelError("Gemini listed no models this key can chat with.", "no_models")
    return found


def _thinking_config(model: str, level: str | None, include_thoughts: bool) -> types.ThinkingConfig | None:
    if not level and not include_thoughts:
        return None
    if level == "minimal" and "-pro" in model:
        level = "low"  # Pro models think at least a little: "minimal" is theirs "low"
    return types.ThinkingConfig(thinking_level=types.ThinkingLevel(level.upper()) if level else None,
                                include_thoughts=include_thoughts or None)


def _tool_call(call: types.FunctionCall, index: int) -> ToolCall:
    return ToolCall(call_id=call.id or f"call_{index + 1}", name=call.name or "", args=dict(call.args or {}),
                    sent_id=bool(call.id))


def _enum_name(value: Any) -> str:
    return getattr(value, "name", None) or str(value)
