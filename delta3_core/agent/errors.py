"""Turn google-genai and network failures into ModelError with one plain sentence, and decide retries."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from google.genai import errors as genai_errors

from ..errors import ModelError

try:  # model.py builds google-genai's pools: every version takes httpx clients, only newer ones httpx2
    import httpx as genai_httpx
except ImportError:  # pragma: no cover - an install with only httpx2 (google-genai 3.x needs no httpx)
    import httpx2 as genai_httpx  # type: ignore[no-redef]

TIMEOUT_ERRORS: tuple[type[BaseException], ...] = (genai_httpx.TimeoutException, TimeoutError)
NETWORK_ERRORS: tuple[type[BaseException], ...] = (genai_httpx.TransportError, ConnectionError)
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: a few attempts, never more than `max_wait_s` of waiting in total."""

    attempts: int = 3
    backoff_s: float = 0.5
    max_wait_s: float = 10.0


@dataclass
class Failure:
    """A classified failure: the error to raise, and how long to wait before a retry (None: do not retry)."""

    error: ModelError
    retry_after: float | None = None


def classify(exc: BaseException, *, model: str, timeout_s: float, attempt: int, policy: RetryPolicy) -> Failure:
    """Classify one failed call; `attempt` counts from 1 and sets the backoff."""
    backoff = policy.backoff_s * (2 ** (attempt - 1))
    if isinstance(exc, genai_errors.APIError):
        return _classify_api_error(exc, model=model, backoff=backoff)
    if isinstance(exc, TIMEOUT_ERRORS):
        return Failure(ModelError(f"Gemini did not answer within {timeout_s:g} seconds; please try again.", "timeout"))
    if isinstance(exc, NETWORK_ERRORS):
        return Failure(ModelError("Could not reach Gemini (network error); please try again in a moment.",
                                  "network"), retry_after=backoff)
    if _is_validation_error(exc):
        return Failure(ModelError("Gemini sent a reply that could not be read; please try again.", "bad_response"))
    raise exc  # a bug in our code: let it surface rather than hide it behind a vague message


def _classify_api_error(exc: genai_errors.APIError, *, model: str, backoff: float) -> Failure:
    code = int(exc.code or 0)
    reasons = {d.get("reason") for d in _details(exc) if isinstance(d, dict)}
    if code == 401 or "API_KEY_INVALID" in reasons or (code == 400 and "api key" in (exc.message or "").lower()):
        return Failure(ModelError("Gemini rejected your API key.", "invalid_key"))
    if code == 403:
        return Failure(ModelError("Your Gemini API key is not allowed to do this (permission denied); check that "
                                  "the Generative Language API is enabled for its project.", "permission"))
    if code == 404:
        return Failure(ModelError(f"The Gemini model {model!r} is not available to your key.", "not_found"))
    if code == 429:
        delay = retry_delay(exc)
        wait = f" in about {max(1, round(delay))} seconds" if delay else " in a minute"
        return Failure(ModelError(f"Your Gemini key has hit its rate limit or quota; please try again{wait}.",
                                  "quota"), retry_after=delay if delay is not None else backoff)
    if code in RETRYABLE_STATUS or code >= 500:
        return Failure(ModelError(f"Gemini is having trouble right now (server error {code}); please try again "
                                  "in a few minutes.", "unavailable"),
                       retry_after=backoff if code in RETRYABLE_STATUS else None)
    detail = _short(exc.message or exc.status or "")
    return Failure(ModelError(f"Gemini refused the request ({code}{': ' + detail if detail else ''}).",
                              "bad_request"))


def retry_delay(exc: genai_errors.APIError) -> float | None:
    """Seconds from Google's RetryInfo detail (e.g. "37s" or "0.5s"), if it sent one."""
    for detail in _details(exc):
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _details(exc: genai_errors.APIError) -> list[Any]:
    body = exc.details if isinstance(exc.details, dict) else {}
    error = body.get("error", body)
    details = error.get("details") if isinstance(error, dict) else None
    return details if isinstance(details, list) else []


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_validation_error(exc: BaseException) -> bool:
    # pydantic raises this when a response does not fit google-genai's types (e.g. args that are not an object)
    return type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pydantic")
