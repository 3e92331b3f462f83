"""Login sessions: 7-day tokens (only their hash is stored), logout, and log out everywhere."""

from __future__ import annotations

import hashlib
import secrets

from ..storage.base import Backend, SessionRecord, UserRecord
from . import clock

SESSION_TTL_S = 7 * 24 * 3600


def token_hash(token: str) -> str:
    """The sha256 under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_session(backend: Backend, user_id: str, now: float | None = None) -> str:
    """Start a 7-day session for the user and return its token (only its hash is stored)."""
    now = clock.now() if now is None else now
    token = secrets.token_urlsafe(32)
    backend.records.put_session(SessionRecord(token_hash=token_hash(token), user_id=user_id,
                                              created_at=now, expires_at=now + SESSION_TTL_S))
    return token


def resolve_session(backend: Backend, token: str | None, now: float | None = None) -> UserRecord | None:
    """The user a session token belongs to, or None if it is unknown, expired or revoked."""
    if not token or not isinstance(token, str) or len(token) > 512:
        return None
    now = clock.now() if now is None else now
    hashed = token_hash(token)
    session = backend.records.get_session(hashed)
    if session is None:
        return None
    user = backend.records.get_user(session.user_id)
    if session.expires_at <= now or user is None or session.created_at < user.sessions_valid_after:
        backend.records.delete_session(hashed)
        return None
    return user


def logout(backend: Backend, token: str | None) -> None:
    """End one session (unknown tokens are ignored)."""
    if token and isinstance(token, str):
        backend.records.delete_session(token_hash(token))


def logout_everywhere(backend: Backend, user_id: str, now: float | None = None) -> None:
    """Revoke every session of the user, on every device."""
    backend.records.update_user(user_id, sessions_valid_after=clock.now() if now is None else now)
