"""Helpers both backends share: user field checks, id checks, (de)serialising records."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from ..errors import StorageError, ValidationError
from .base import Message, UserRecord

USER_FIELDS = tuple(f.name for f in fields(UserRecord))
# Fields update_user may change; user_id is the identity and never changes.
UPDATABLE_FIELDS = frozenset(USER_FIELDS) - {"user_id"}
_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_user_id(user_id: str) -> str:
    """Return `user_id` if it is safe as a folder name and key part, else raise ValidationError."""
    if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):  # fullmatch: "$" lets "id\n" through
        raise ValidationError("That user id is not valid.")
    return user_id


def user_prefix(user_id: str) -> str:
    """Where all of a user's files live: `users/<id>/` (an S3 key prefix, or a folder under the data dir)."""
    return f"users/{check_user_id(user_id)}/"


def workspace_prefix(user_id: str) -> str:
    """The user's workspace under the same root: `users/<id>/workspace/`."""
    return user_prefix(user_id) + "workspace/"


def check_changes(changes: dict[str, Any]) -> None:
    """Raise ValidationError if `changes` names a field update_user cannot set."""
    unknown = sorted(set(changes) - UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown user field: {unknown[0]}.")


def user_from_dict(data: dict[str, Any]) -> UserRecord:
    """Build a UserRecord from a dict, ignoring keys that are not fields."""
    values = {k: data.get(k) for k in USER_FIELDS if k in data}
    values["prefs"] = values.get("prefs") or {}
    values["sessions_valid_after"] = float(values.get("sessions_valid_after") or 0.0)
    values["created_at"] = float(values.get("created_at") or 0.0)
    return UserRecord(**values)


def dump_meta(meta: dict[str, Any]) -> str:
    """JSON text of a message's meta (or a user's prefs)."""
    return json.dumps(meta or {}, separators=(",", ":"), sort_keys=True, default=str)


def load_meta(text: str | None) -> dict[str, Any]:
    """The dict stored by dump_meta; {} for nothing."""
    return json.loads(text) if text else {}


# A DynamoDB item holds at most 400 KB, so both backends keep a message to these sizes.
MAX_CONTENT_BYTES = 64 * 1024
MAX_META_BYTES = 32 * 1024
_META_FIELD_BYTES = 1024
TRUNCATED_NOTE = "\n[... cut here: the rest was too long to keep in the history]"


def fit_content(content: str) -> str:
    """`content`, cut (on a character boundary, with a note) if its UTF-8 exceeds MAX_CONTENT_BYTES."""
    raw = content.encode()
    if len(raw) <= MAX_CONTENT_BYTES:
        return content
    room = MAX_CONTENT_BYTES - len(TRUNCATED_NOTE.encode())
    return raw[:room].decode(errors="ignore") + TRUNCATED_NOTE


def fit_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """`meta`, or only its small fields plus truncated=True if its JSON exceeds MAX_META_BYTES."""
    if len(dump_meta(meta).encode()) <= MAX_META_BYTES:
        return dict(meta)
    kept = {k: v for k, v in meta.items() if len(dump_meta({k: v}).encode()) <= _META_FIELD_BYTES}
    return {**kept, "truncated": True}


def stamped(message: Message, seq: int, now: float) -> Message:
    """A copy of `message` with its store-assigned seq (and created_at if unset), cut to storable size."""
    return Message(role=message.role, content=fit_content(message.content or ""), channel=message.channel,
                   created_at=message.created_at or now, meta=fit_meta(message.meta or {}), seq=seq)


def aws_client(service: str, client: Any = None) -> Any:
    """`client` if given (tests inject one), else a plain boto3 client: AWS_ENDPOINT_URL / AWS_REGION apply."""
    if client is not None:
        return client
    import boto3

    return boto3.client(service)


def storage_errors(catch: type[Exception] | tuple[type[Exception], ...], message: Callable[[Exception], str]):
    """Decorator: a `catch` failure (disk, network, AWS) becomes a StorageError saying `message(exc)`."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except catch as exc:
                raise StorageError(message(exc)) from exc

        return wrapper

    return decorate


def split_path(path: str) -> list[str]:
    """The components of a workspace path; ValidationError if it is not relative and normalised."""
    if not isinstance(path, str) or not path or "\x00" in path or path.startswith("/") or "\\" in path:
        raise ValidationError(f"{path!r} is not a valid workspace path.")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValidationError(f"{path!r} is not a valid workspace path.")
    return parts
