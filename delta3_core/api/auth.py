"""/auth: register, log in and out, the account, the Gemini key. Same core calls as the web and SMS."""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel, Field

from .. import accounts, keys
from ..accounts import tokens as pat
from ..storage.base import UserRecord
from .framework import Call, Model, operation


def iso(timestamp: float | None) -> str | None:
    """An epoch time as ISO 8601 UTC text, e.g. 2026-11-30T10:00:00Z."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Credentials(Model):
    email: str = Field(max_length=320, examples=["ada@example.com"])
    password: str = Field(max_length=1024, examples=["correct horse 9"])


class User(BaseModel):
    """An account as the API shows it (never the key or the password)."""

    id: str
    email: str
    phone: str | None = Field(description="the phone linked for SMS, E.164")
    model: str = Field(description="the Gemini model that answers this user")
    has_gemini_key: bool
    created_at: str


class Session(BaseModel):
    token: str = Field(description="a session token: send it as 'Authorization: Bearer <token>'")
    expires_at: str
    user: User


class GeminiKey(Model):
    api_key: str = Field(max_length=1024, description="a Gemini API key from aistudio.google.com/apikey")


class GeminiKeyState(BaseModel):
    has_gemini_key: bool
    masked: str = Field(description="the first and last four characters, e.g. AIza…XY12")


def user_out(call: Call, user: UserRecord) -> User:
    """The API view of a user record."""
    return User(id=user.user_id, email=user.email, phone=user.phone, model=user.model or call.services.settings.model,
                has_gemini_key=keys.has_gemini_key(user), created_at=iso(user.created_at))


def _session(call: Call, user: UserRecord) -> Session:
    now = accounts.clock()
    token = accounts.create_session(call.services.backend, user.user_id, now=now)
    return Session(token=token, expires_at=iso(now + accounts.SESSION_TTL_S), user=user_out(call, user))


@operation("POST", "/auth/register", summary="Create an account", tag="auth", body=Credentials, response=Session,
           status=201, auth=False, errors=(409,))
def register(call: Call) -> Session:
    """Create an account and answer with a session token (7 days)."""
    user = accounts.register(call.services.backend, call.body.email, call.body.password)
    return _session(call, user)


@operation("POST", "/auth/login", summary="Log in", tag="auth", body=Credentials, response=Session, auth=False,
           errors=(401,))
def login(call: Call) -> Session:
    """Check the email and password and answer with a new session token (7 days)."""
    user = accounts.authenticate(call.services.backend, call.body.email, call.body.password,
                                 source=call.request.remote_addr)
    return _session(call, user)


@operation("POST", "/auth/logout", summary="Log out", tag="auth", status=204)
def logout(call: Call) -> None:
    """End the token this request was sent with (a session, or a personal access token)."""
    if call.bearer.kind == "personal":
        pat.revoke_token(call.services.backend, call.user_id, call.bearer.token_id)
    else:
        accounts.logout(call.services.backend, call.token)


@operation("GET", "/auth/me", summary="Your account", tag="auth", response=User)
def me(call: Call) -> User:
    """The account the token belongs to."""
    return user_out(call, call.user)


@operation("POST", "/auth/gemini-key", summary="Save your Gemini key", tag="auth", body=GeminiKey,
           response=GeminiKeyState, errors=(502,))
def save_gemini_key(call: Call) -> GeminiKeyState:
    """Check the key with one cheap Gemini call, then store it encrypted; 422 if Google refuses it."""
    from ..agent import check_key

    key = keys.clean_key(call.body.api_key)
    check_key(call.services.settings, key)
    keys.set_gemini_key(call.services.backend, call.user_id, key)
    return GeminiKeyState(has_gemini_key=True, masked=keys.mask_key(key))


@operation("DELETE", "/auth/gemini-key", summary="Remove your Gemini key", tag="auth", status=204)
def remove_gemini_key(call: Call) -> None:
    """Forget the saved Gemini key."""
    keys.remove_gemini_key(call.services.backend, call.user_id)
