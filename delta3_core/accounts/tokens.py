"""Personal access tokens for the REST API, and bearer tokens of either kind (session or personal).

A personal token is `d3p_<id>_<secret>`: shown once when created, stored only as a sha256 hash,
listed without its secret, revoked by its owner. Unlike session tokens it survives logout, "log out
everywhere" and a password change (like a GitHub token), so scripts keep working; revoke it to end it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from .. import accounts  # the module, so a test moving accounts.clock moves this clock too
from ..errors import NotFoundError, ValidationError
from ..storage.base import AccessTokenRecord, Backend, UserRecord

PREFIX = "d3p_"
MAX_TOKENS_PER_USER = 50
MAX_NAME_CHARS = 100
MAX_EXPIRY_DAYS = 3650


@dataclass
class Bearer:
    """Who a bearer token belongs to; `kind` is "session" or "personal" (then `token_id` is set)."""

    user: UserRecord
    kind: str
    token_id: str | None = None


def hash_token(token: str) -> str:
    """The sha256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def clean_name(name: str) -> str:
    """The token name trimmed; ValidationError if empty, too long or not printable."""
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        raise ValidationError("Give the token a name, such as the machine or script that uses it.")
    if len(name) > MAX_NAME_CHARS:
        raise ValidationError(f"A token name has at most {MAX_NAME_CHARS} characters.")
    if not name.isprintable():
        raise ValidationError("A token name cannot contain control characters.")
    return name


def create_token(backend: Backend, user_id: str, name: str, expires_in_days: int | None = None
                 ) -> tuple[AccessTokenRecord, str]:
    """Create a personal access token; return its record and the secret (shown to the user once)."""
    name = clean_name(name)
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise ValidationError(f"A token expires in 1 to {MAX_EXPIRY_DAYS} days (or never, if left out).")
    if len(backend.records.list_access_tokens(user_id)) >= MAX_TOKENS_PER_USER:
        raise ValidationError(f"You have {MAX_TOKENS_PER_USER} tokens, the most allowed; revoke one first.")
    now = accounts.clock()
    token_id = secrets.token_hex(8)
    secret = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    record = AccessTokenRecord(token_id=token_id, token_hash=hash_token(secret), user_id=user_id, name=name,
                               created_at=now, expires_at=now + expires_in_days * 86400 if expires_in_days else None)
    backend.records.put_access_token(record)
    return record, secret


def list_tokens(backend: Backend, user_id: str) -> list[AccessTokenRecord]:
    """The user's live tokens, oldest first (the records hold no secret)."""
    return backend.records.list_access_tokens(user_id)


def revoke_token(backend: Backend, user_id: str, token_id: str) -> None:
    """Revoke one of the user's tokens; NotFoundError if the user has none with that id."""
    if not isinstance(token_id, str) or not backend.records.delete_access_token(user_id, token_id):
        raise NotFoundError("You have no token with that id.")


def resolve_bearer(backend: Backend, token: str | None) -> Bearer | None:
    """The user a session or personal token belongs to, or None if unknown, expired or revoked."""
    if not token or not isinstance(token, str) or len(token) > 512:
        return None
    if not token.startswith(PREFIX):
        user = accounts.resolve_session(backend, token)
        return Bearer(user, "session") if user else None
    record = backend.records.get_access_token(hash_token(token))
    if record is None or (record.expires_at is not None and record.expires_at <= accounts.clock()):
        return None
    user = backend.records.get_user(record.user_id)
    return Bearer(user, "personal", record.token_id) if user else None
