"""API errors as RFC 9457 problem details: one shape for every failure, domain errors mapped once here."""

from __future__ import annotations

import math
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, Field

from .. import errors

PROBLEM_TYPE = "about:blank"  # RFC 9457: the status title says it all; `detail` is the sentence for people
MEDIA_TYPE = "application/problem+json"


class ProblemModel(BaseModel):
    """The body of every error answer."""

    type: str = Field(PROBLEM_TYPE, description="always about:blank: the status code names the problem")
    title: str = Field(description="the HTTP status phrase, e.g. Unprocessable Content")
    status: int = Field(description="the HTTP status code, repeated")
    detail: str = Field(description="one sentence saying what went wrong and what to do")
    errors: list[dict[str, Any]] | None = Field(None, description="for 422: each invalid field and why")


class Problem(Exception):
    """Raise anywhere in an operation to answer with this problem (and these extra headers)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None,
                 errors: list[dict[str, Any]] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors

    def body(self) -> dict[str, Any]:
        """The problem+json document."""
        body: dict[str, Any] = {"type": PROBLEM_TYPE, "title": title(self.status), "status": self.status,
                                "detail": self.detail}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def title(status: int) -> str:
    """The standard phrase of an HTTP status."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def retry_after(seconds: float) -> dict[str, str]:
    """A Retry-After header of whole seconds (at least 1)."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


# Gemini failures the caller can fix (their key, their quota) are 4xx; Google being down is not their input.
_MODEL_STATUS = {"invalid_key": 422, "no_key": 409, "quota": 429, "blocked": 422, "no_account": 401}


def from_domain(error: errors.Delta3Error) -> Problem:
    """The problem for a domain error raised by the core (its message is already a sentence for people)."""
    detail = str(error) or "The request could not be completed."
    if isinstance(error, errors.ThrottledError):
        return Problem(429, detail, retry_after(error.retry_after))
    if isinstance(error, errors.ModelError):
        status = _MODEL_STATUS.get(error.kind, 502)
        return Problem(status, detail, retry_after(60) if status == 429 else None)
    for kind, status in ((errors.ValidationError, 422), (errors.AuthError, 401), (errors.ConflictError, 409),
                         (errors.NotFoundError, 404), (errors.QuotaExceededError, 413),
                         (errors.KeyDecryptError, 409)):
        if isinstance(error, kind):
            return Problem(status, detail)
    return Problem(503, detail)  # storage, executor or configuration trouble: not the caller's input
