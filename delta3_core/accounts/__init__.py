"""Accounts: registration, bcrypt passwords, throttled login, sessions, phone links, model choice."""

from __future__ import annotations

import base64
import hashlib
import math
import re
import secrets
import time
import unicodedata
import uuid

import bcrypt

from ..errors import AuthError, ConflictError, NotFoundError, ThrottledError, ValidationError
from ..storage.base import Backend, SessionRecord, UserRecord

# Module-level clock so tests can move time (monkeypatch accounts.clock).
clock = time.time

SESSION_TTL_S = 7 * 24 * 3600
BCRYPT_ROUNDS = 12  # ~0.25 s per hash on a small server; tests lower it
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_BYTES = 128
LOGIN_WINDOW_S = 15 * 60
MAX_FAILURES_PER_EMAIL = 5
# A source (IP address, phone) may be shared by several people, so it gets more room than one email.
MAX_FAILURES_PER_SOURCE = 20
_HASH_PREFIX = "bcrypt-sha256$"

_DOMAIN_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL_RE = re.compile(r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@" + _DOMAIN_LABEL + r"(?:\." + _DOMAIN_LABEL + r")+$")
_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_WRONG_CREDENTIALS = "Wrong email or password."


# ---------------------------------------------------------------- emails and passwords

def normalize_email(s: str) -> str:
    """Return the email trimmed, NFC-normalised and lowercased; ValidationError if it is not an address.

    International addresses work: the domain is checked in its IDNA (xn--) form and kept in Unicode,
    so 'josé@bücher.de' typed composed, decomposed or as 'josé@xn--bcher-kva.de' is one account.
    """
    email = unicodedata.normalize("NFC", s).strip().lower() if isinstance(s, str) else ""
    if not email:
        raise ValidationError("Enter an email address.")
    local, _, domain = email.rpartition("@")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
        domain = ascii_domain.encode("ascii").decode("idna")  # one spelling for 'xn--' and Unicode forms
    except UnicodeError:
        raise ValidationError("That is not a valid email address.") from None
    # A non-ASCII letter, digit or mark in the local part is as good as an ASCII one (RFC 6531).
    ascii_local = "".join("a" if not c.isascii() and unicodedata.category(c)[0] in "LMN" else c for c in local)
    ascii_email = f"{ascii_local}@{ascii_domain}"
    if len(ascii_email) > 254 or len(local.encode()) > 64 or not _EMAIL_RE.match(ascii_email):
        raise ValidationError("That is not a valid email address.")
    return f"{local}@{domain}"


def check_password_policy(password: str, email: str = "") -> None:
    """Raise ValidationError (saying what to change) if `password` is too weak or too long."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise ValidationError(f"Use a password of at least {MIN_PASSWORD_CHARS} characters.")
    if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        raise ValidationError(f"Use a password of at most {MAX_PASSWORD_BYTES} bytes.")
    classes = sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                   any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))
    if classes < 2:
        raise ValidationError("Mix at least two kinds of characters (lowercase, uppercase, digits, symbols).")
    local = email.partition("@")[0]
    if len(local) >= 3 and local in password.lower():
        raise ValidationError("Your password must not contain your email name.")


def _prehash(password: str) -> bytes:
    # bcrypt reads only 72 bytes (and bcrypt>=5 refuses more), so hash first; base64 keeps NUL bytes out.
    return base64.b64encode(hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest())


def hash_password(password: str) -> str:
    """Return a storable bcrypt hash of `password`."""
    return _HASH_PREFIX + bcrypt.hashpw(_prehash(password), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def verify_password(password: str, stored: str) -> bool:
    """True if `password` matches the stored hash."""
    if not isinstance(password, str) or not stored.startswith(_HASH_PREFIX):
        return False
    try:
        return bcrypt.checkpw(_prehash(password), stored[len(_HASH_PREFIX):].encode())
    except ValueError:  # a damaged hash must read as "wrong password", not crash the login page
        return False


_dummy_hash: str | None = None


def _burn_time(password: str) -> None:
    """Spend about as long as a real check, so unknown emails cannot be told apart by timing."""
    global _dummy_hash
    if _dummy_hash is None or not _dummy_hash[len(_HASH_PREFIX):].startswith(f"$2b${BCRYPT_ROUNDS:02d}$"):
        _dummy_hash = hash_password("not-a-real-password-0")
    verify_password(password if isinstance(password, str) else "", _dummy_hash)


# ---------------------------------------------------------------- registration and login

def register(backend: Backend, email: str, password: str) -> UserRecord:
    """Create an account; ValidationError for bad input, ConflictError if the email is taken."""
    email = normalize_email(email)
    check_password_policy(password, email)
    if backend.records.find_user_by_email(email) is not None:
        raise ConflictError("An account with that email already exists.")
    user = UserRecord(user_id=uuid.uuid4().hex, email=email, password_hash=hash_password(password),
                      created_at=clock())
    backend.records.create_user(user)  # the store claims the email atomically (two signups at once)
    return user


def _throttle_keys(email: str, source: str | None) -> list[tuple[str, int]]:
    # Hashed so counter keys never carry an email address or phone number in clear.
    keys = [("login-fail:email:" + hashlib.sha256(email.encode()).hexdigest()[:32], MAX_FAILURES_PER_EMAIL)]
    if source:
        keys.append(("login-fail:src:" + hashlib.sha256(source.encode()).hexdigest()[:32], MAX_FAILURES_PER_SOURCE))
    return keys


def _retry_after() -> float:
    # The store counts in fixed windows aligned to the epoch; the current one ends here.
    return max(1.0, LOGIN_WINDOW_S - (clock() % LOGIN_WINDOW_S))


def _check_throttle(backend: Backend, keys: list[tuple[str, int]]) -> None:
    for key, limit in keys:
        if backend.records.incr_counter(key, LOGIN_WINDOW_S, 0) >= limit:
            wait = _retry_after()
            raise ThrottledError(f"Too many failed logins; try again in {math.ceil(wait / 60)} minutes.",
                                 retry_after=wait)


def _record_failure(backend: Backend, keys: list[tuple[str, int]]) -> None:
    for key, _limit in keys:
        backend.records.incr_counter(key, LOGIN_WINDOW_S, 1)


def authenticate(backend: Backend, email: str, password: str, source: str | None = None) -> UserRecord:
    """Return the user for these credentials; AuthError if wrong, ThrottledError after too many failures.

    `source` identifies where the attempt comes from (IP address, phone number) for per-source throttling.
    """
    try:
        email = normalize_email(email)
    except ValidationError:
        source_keys = _throttle_keys("", source)[1:]  # still a guess from this source
        _check_throttle(backend, source_keys)
        _burn_time(password)
        _record_failure(backend, source_keys)
        raise AuthError(_WRONG_CREDENTIALS) from None
    keys = _throttle_keys(email, source)
    _check_throttle(backend, keys)
    user = backend.records.find_user_by_email(email)
    if user is None:
        _burn_time(password)
        ok = False
    else:
        ok = verify_password(password, user.password_hash)
    if not ok:
        _record_failure(backend, keys)
        raise AuthError(_WRONG_CREDENTIALS)
    # The owner got in: forget their typos (not the source's count, which an attacker could reset so).
    email_key = keys[0][0]
    failures = backend.records.incr_counter(email_key, LOGIN_WINDOW_S, 0)
    if failures:
        backend.records.incr_counter(email_key, LOGIN_WINDOW_S, -failures)
    return user


# ---------------------------------------------------------------- sessions

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_session(backend: Backend, user_id: str, now: float | None = None) -> str:
    """Start a 7-day session for the user and return its token (only its hash is stored)."""
    now = clock() if now is None else now
    token = secrets.token_urlsafe(32)
    backend.records.put_session(SessionRecord(token_hash=_token_hash(token), user_id=user_id,
                                              created_at=now, expires_at=now + SESSION_TTL_S))
    return token


def resolve_session(backend: Backend, token: str | None, now: float | None = None) -> UserRecord | None:
    """The user a session token belongs to, or None if it is unknown, expired or revoked."""
    if not token or not isinstance(token, str) or len(token) > 512:
        return None
    now = clock() if now is None else now
    token_hash = _token_hash(token)
    session = backend.records.get_session(token_hash)
    if session is None:
        return None
    user = backend.records.get_user(session.user_id)
    if session.expires_at <= now or user is None or session.created_at < user.sessions_valid_after:
        backend.records.delete_session(token_hash)
        return None
    return user


def logout(backend: Backend, token: str | None) -> None:
    """End one session (unknown tokens are ignored)."""
    if token and isinstance(token, str):
        backend.records.delete_session(_token_hash(token))


def logout_everywhere(backend: Backend, user_id: str, now: float | None = None) -> None:
    """Revoke every session of the user, on every device."""
    backend.records.update_user(user_id, sessions_valid_after=clock() if now is None else now)


def _get_user(backend: Backend, user_id: str) -> UserRecord:
    user = backend.records.get_user(user_id)
    if user is None:
        raise NotFoundError("That account does not exist.")
    return user


def change_password(backend: Backend, user_id: str, old: str, new: str, now: float | None = None) -> str:
    """Set a new password after checking the old one; revoke all sessions and return a fresh token."""
    now = clock() if now is None else now
    user = _get_user(backend, user_id)
    keys = _throttle_keys(user.email, None)
    _check_throttle(backend, keys)  # a stolen session must not become a way to guess the password
    if not verify_password(old, user.password_hash):
        _record_failure(backend, keys)
        raise AuthError("Your current password is not correct.")
    check_password_policy(new, user.email)
    if new == old:
        raise ValidationError("Choose a new password different from the current one.")
    backend.records.update_user(user_id, password_hash=hash_password(new), sessions_valid_after=now)
    return create_session(backend, user_id, now=now)


# ---------------------------------------------------------------- phones

def normalize_phone(s: str) -> str:
    """Return the number in E.164 form (+ and 8-15 digits); ValidationError otherwise."""
    raw = s.strip() if isinstance(s, str) else ""
    if not raw:
        raise ValidationError("Enter a phone number.")
    if raw.startswith("00"):  # international dialling prefix used in much of the world
        raw = "+" + raw[2:]
    if not raw.startswith("+"):
        raise ValidationError("Include the country code in the phone number, like +14155550100.")
    digits = _PHONE_SEPARATORS.sub("", raw[1:])
    if not digits.isascii() or not digits.isdigit() or not 8 <= len(digits) <= 15 or digits[0] == "0":
        raise ValidationError("That is not a valid phone number; use the form +14155550100.")
    return "+" + digits


def link_phone(backend: Backend, user_id: str, phone: str) -> str:
    """Link a phone to the account (releasing any earlier one); ConflictError if another account has it."""
    phone = normalize_phone(phone)
    _get_user(backend, user_id)
    # One store transaction claims the phone, sets user.phone and releases the old one: nothing half-done.
    backend.records.link_phone(phone, user_id)
    return phone


def unlink_phone(backend: Backend, user_id: str) -> None:
    """Remove the account's phone link (no-op if none)."""
    user = _get_user(backend, user_id)
    if not user.phone:
        return
    if backend.records.get_phone_user(user.phone) == user_id:
        backend.records.unlink_phone(user.phone)  # also clears user.phone, in the same transaction
    else:  # the claim is gone already; only the account still shows the number
        backend.records.update_user(user_id, phone=None)


def user_for_phone(backend: Backend, phone: str) -> UserRecord | None:
    """The account linked to this phone, or None (also for numbers that are not valid)."""
    try:
        phone = normalize_phone(phone)
    except ValidationError:
        return None
    user_id = backend.records.get_phone_user(phone)
    return backend.records.get_user(user_id) if user_id else None


# ---------------------------------------------------------------- preferences

def set_model(backend: Backend, user_id: str, model: str | None) -> UserRecord:
    """Choose the user's Gemini model; None or '' goes back to the default."""
    model = (model or "").strip() or None
    if model is not None and not _MODEL_RE.match(model):
        raise ValidationError("That is not a valid model name (for example gemini-3.8-flash).")
    return backend.records.update_user(user_id, model=model)
