"""Registration, login, password change and preferences of an account."""

from __future__ import annotations

import re
import uuid

from ..errors import AuthError, ConflictError, NotFoundError, ValidationError
from ..storage.base import Backend, UserRecord
from . import clock
from .passwords import burn_time, check_password_policy, hash_password, normalize_email, verify_password
from .sessions import create_session
from .throttle import check_throttle, forget_failures, record_failure, throttle_keys

_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
_WRONG_CREDENTIALS = "Wrong email or password."
NO_PASSWORD = "!"  # password_hash of an account made through a provider (Google): no password matches it


def register(backend: Backend, email: str, password: str) -> UserRecord:
    """Create an account; ValidationError for bad input, ConflictError if the email is taken."""
    email = normalize_email(email)
    check_password_policy(password, email)
    if backend.records.find_user_by_email(email) is not None:
        raise ConflictError("An account with that email already exists.")
    user = UserRecord(user_id=uuid.uuid4().hex, email=email, password_hash=hash_password(password),
                      created_at=clock.now())
    backend.records.create_user(user)  # the store claims the email atomically (two signups at once)
    return user


def authenticate(backend: Backend, email: str, password: str, source: str | None = None) -> UserRecord:
    """Return the user for these credentials; AuthError if wrong, ThrottledError after too many failures.

    `source` identifies where the attempt comes from (IP address, phone number) for per-source throttling.
    """
    try:
        email = normalize_email(email)
    except ValidationError:
        source_keys = throttle_keys("", source)[1:]  # still a guess from this source
        check_throttle(backend, source_keys)
        burn_time(password)
        record_failure(backend, source_keys)
        raise AuthError(_WRONG_CREDENTIALS) from None
    keys = throttle_keys(email, source)
    check_throttle(backend, keys)
    user = backend.records.find_user_by_email(email)
    if user is None:
        burn_time(password)
        ok = False
    else:
        ok = verify_password(password, user.password_hash)
    if not ok:
        record_failure(backend, keys)
        raise AuthError(_WRONG_CREDENTIALS)
    # The owner got in: forget their typos (not the source's count, which an attacker could reset so).
    forget_failures(backend, keys[0][0])
    return user


def require_user(backend: Backend, user_id: str) -> UserRecord:
    """The account; NotFoundError if it does not exist (any more)."""
    user = backend.records.get_user(user_id)
    if user is None:
        raise NotFoundError("That account does not exist.")
    return user


def has_password(user: UserRecord) -> bool:
    """False for an account made by signing in with a provider, until its owner sets a password."""
    return user.password_hash != NO_PASSWORD


def confirm_owner(backend: Backend, user: UserRecord, password: str | None, email: str | None) -> None:
    """Confirm a destructive step: the password, or for a password-less account the typed email."""
    if has_password(user):
        check_own_password(backend, user, password or "")
    elif (email or "").strip().lower() != user.email.lower():
        raise ValidationError("This account has no password: type its email address exactly, to confirm.")


def check_own_password(backend: Backend, user: UserRecord, password: str) -> None:
    """AuthError unless `password` is the user's; throttled, so a stolen session cannot guess it."""
    keys = throttle_keys(user.email, None)
    check_throttle(backend, keys)
    if not verify_password(password, user.password_hash):
        record_failure(backend, keys)
        raise AuthError("Your current password is not correct.")


def change_password(backend: Backend, user_id: str, old: str, new: str, now: float | None = None) -> str:
    """Set a new password after checking the old one (none for a password-less account); revoke all sessions
    and return a fresh token."""
    now = clock.now() if now is None else now
    user = require_user(backend, user_id)
    if has_password(user):
        check_own_password(backend, user, old)
    check_password_policy(new, user.email)
    if new == old:
        raise ValidationError("Choose a new password different from the current one.")
    backend.records.update_user(user_id, password_hash=hash_password(new), sessions_valid_after=now)
    return create_session(backend, user_id, now=now)


def set_model(backend: Backend, user_id: str, model: str | None) -> UserRecord:
    """Choose the user's Gemini model; None or '' goes back to the default."""
    model = (model or "").strip() or None
    if model is not None and not _MODEL_RE.match(model):
        raise ValidationError("That is not a valid model name (for example gemini-3.8-flash).")
    return backend.records.update_user(user_id, model=model)
