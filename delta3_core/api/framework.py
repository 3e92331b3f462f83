"""The API's small framework: operations declared with typed models, dispatched without any web framework.

An operation is a plain function `handler(call) -> model | Reply`, registered with `@operation(...)`:
the same declaration validates requests, checks auth and becomes the OpenAPI document, so they
cannot drift. The HTTP service (sms_webhook/api.py) only turns its requests into ApiRequest and
the Reply back into a response.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticError

from ..accounts.tokens import Bearer, resolve_bearer
from ..errors import Delta3Error
from ..workspace import Workspace
from .problems import MEDIA_TYPE, Problem, from_domain

if TYPE_CHECKING:
    from delta3_core.config import Settings
    from delta3_core.services import Services

log = logging.getLogger("delta3.api")

MAX_JSON_BODY = 1024 * 1024  # ordinary JSON requests; file writes and uploads declare their own limit
_AUTH_HELP = "Send 'Authorization: Bearer <token>' with a token from POST /auth/login or a personal access token."


class Model(BaseModel):
    """Base of request models: unknown fields are refused, so a typo is an error and not silently ignored."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class Upload:
    """One file part of a multipart request."""

    field: str
    filename: str
    stream: Any  # a binary file object


@dataclass
class ApiRequest:
    """An HTTP request, as the service hands it over (headers must be case-insensitive)."""

    method: str
    headers: Mapping[str, str]
    query: Mapping[str, str] = field(default_factory=dict)
    path_params: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    remote_addr: str | None = None
    uploads: list[Upload] = field(default_factory=list)
    form: Mapping[str, str] = field(default_factory=dict)  # the text fields of a multipart body


@dataclass
class Reply:
    """An answer: a model or dict (JSON), bytes, or an iterator of str/bytes chunks (a stream)."""

    body: Any = None
    status: int = 200
    media_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Operation:
    """One endpoint: how to call it, what it takes and answers, and the function that does it."""

    method: str
    path: str
    handler: Callable[[Call], Any]
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True
    errors: tuple[int, ...] = ()
    max_body: int | Callable[[Any], int] = MAX_JSON_BODY  # bytes, or a function of the Settings
    media: dict[str, dict[str, Any]] | None = None  # non-JSON success bodies: {media type: schema}
    multipart: dict[str, Any] | None = None  # schema of a multipart/form-data body
    responses: dict[int, type[BaseModel]] | None = None  # other success statuses and their JSON bodies

    def body_limit(self, settings: Settings) -> int:
        """The largest body this operation accepts, in bytes."""
        return self.max_body(settings) if callable(self.max_body) else self.max_body

    @property
    def name(self) -> str:
        """A stable operation id, e.g. post_auth_tokens_token_id."""
        words = self.path.strip("/").replace("{", "").replace("}", "").replace("-", "_").split("/")
        return "_".join([self.method.lower(), *words])


OPERATIONS: list[Operation] = []


def operation(method: str, path: str, *, summary: str, tag: str, **options: Any) -> Callable:
    """Register the decorated function as an API operation (options: the Operation fields)."""
    def register(handler: Callable[[Call], Any]) -> Callable[[Call], Any]:
        OPERATIONS.append(Operation(method.upper(), path, handler, summary, tag, **options))
        return handler
    return register


@dataclass
class Call:
    """What an operation gets: the services, the validated body and query, and who is calling."""

    services: Services
    request: ApiRequest
    body: Any = None
    query: Any = None
    bearer: Bearer | None = None
    token: str | None = None

    @property
    def user(self):
        """The calling user's record (operations with auth=True only)."""
        assert self.bearer is not None, "this operation does not require auth"
        return self.bearer.user

    @property
    def user_id(self) -> str:
        """The calling user's id."""
        return self.user.user_id

    def workspace(self) -> Workspace:
        """The calling user's workspace."""
        return Workspace(self.services.backend, self.user_id, self.services.settings.quota_bytes)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an 'Authorization: Bearer <token>' header, or None."""
    scheme, _, token = (headers.get("Authorization") or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def authenticate(services: Services, request: ApiRequest) -> tuple[Bearer, str]:
    """Who sends this request; Problem 401 if no valid token."""
    token = bearer_token(request.headers)
    challenge = {"WWW-Authenticate": 'Bearer realm="delta3"'}
    if token is None:
        raise Problem(401, "This needs a token. " + _AUTH_HELP, challenge)
    bearer = resolve_bearer(services.backend, token)
    if bearer is None:
        raise Problem(401, "That token is unknown, expired or revoked; log in again or use another token.",
                      challenge)
    return bearer, token


def _invalid(error: PydanticError, where: str) -> Problem:
    """422 naming each bad field; the values themselves are never echoed (they may be passwords)."""
    found = [{"field": ".".join(str(p) for p in e["loc"]) or where, "message": e["msg"]} for e in error.errors()]
    first = found[0]
    return Problem(422, f"Invalid {where} field '{first['field']}': {first['message']}.", errors=found)


def parse_body(op: Operation, request: ApiRequest, limit: int) -> Any:
    """The JSON body validated by the operation's model; Problem 400/413/415/422 otherwise."""
    if op.body is None:
        return None
    if len(request.body) > limit:
        raise Problem(413, f"The request body is larger than {limit:,} bytes, the limit here.")
    media = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise Problem(415, "Send the body as JSON, with 'Content-Type: application/json'.")
    if not request.body.strip():
        raise Problem(400, "This request needs a JSON object as its body.")
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(400, "The body is not valid UTF-8.") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise Problem(400, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise Problem(400, "The body must be a JSON object.")
    if _LONE_SURROGATE_HINT.search(request.body) and not _is_unicode(data):
        raise Problem(400, "The body holds an escaped lone surrogate (\\ud800-\\udfff), which is not text.")
    try:
        return op.body.model_validate(data)
    except PydanticError as error:
        raise _invalid(error, "body") from None


_LONE_SURROGATE_HINT = re.compile(rb"\\u[dD][89a-fA-F]")


def _is_unicode(data: Any) -> bool:
    """False if a string anywhere in `data` holds a lone surrogate (JSON allows it; nothing downstream does)."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_query(op: Operation, request: ApiRequest) -> Any:
    """The query parameters validated by the operation's query model."""
    if op.query is None:
        return None
    known = op.query.model_fields
    try:
        return op.query.model_validate({k: v for k, v in request.query.items() if k in known})
    except PydanticError as error:
        raise _invalid(error, "query") from None


def problem_reply(problem: Problem) -> Reply:
    """The problem+json answer for a Problem."""
    return Reply(problem.body(), problem.status, MEDIA_TYPE, dict(problem.headers))


def _to_reply(op: Operation, result: Any) -> Reply:
    if isinstance(result, Reply):
        return result
    if result is None:
        return Reply(None, 204 if op.status == 200 else op.status, "")
    return Reply(result, op.status)


def dispatch(services: Services, op: Operation, request: ApiRequest,
             checks: tuple[Callable[[Any, Operation, ApiRequest, Call], None], ...] = ()) -> Reply:
    """Run one operation: auth, `checks` (rate limits...), validation, the handler; errors become problems."""
    try:
        call = Call(services, request)
        if op.auth:
            call.bearer, call.token = authenticate(services, request)
        for check in checks:
            check(services, op, request, call)
        call.body = parse_body(op, request, op.body_limit(services.settings))
        call.query = parse_query(op, request)
        return _to_reply(op, op.handler(call))
    except Problem as problem:
        return problem_reply(problem)
    except Delta3Error as error:
        return problem_reply(from_domain(error))


def encode(reply: Reply) -> bytes | Iterator[bytes]:
    """The reply body as bytes (JSON for models and dicts) or as an iterator of byte chunks."""
    body = reply.body
    if body is None:
        return b""
    if isinstance(body, BaseModel):
        return body.model_dump_json().encode()
    if isinstance(body, (dict, list)):
        return json.dumps(body, separators=(",", ":")).encode()
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    return (chunk.encode() if isinstance(chunk, str) else chunk for chunk in body)
