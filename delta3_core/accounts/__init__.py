"""Accounts: passwords, sessions, registration and login, phones, phone verification, reset, deletion.

The public functions are re-exported here, so callers write `accounts.register(...)`.
"""

from __future__ import annotations

from . import clock, passwords, sessions, throttle
from .deletion import DeletionResult, delete_account, purge_pending
from .export import write_export
from .passwords import (
    MAX_PASSWORD_BYTES,
    MIN_PASSWORD_CHARS,
    check_password_policy,
    hash_password,
    normalize_email,
    verify_password,
)
from .phones import link_phone, normalize_phone, unlink_phone, user_for_phone
from .reset import confirm_reset, operator_code, request_reset
from .sessions import SESSION_TTL_S, create_session, logout, logout_everywhere, resolve_session
from .throttle import LOGIN_WINDOW_S, MAX_FAILURES_PER_EMAIL, MAX_FAILURES_PER_SOURCE
from .users import (
    authenticate,
    change_password,
    check_own_password,
    has_password,
    register,
    require_user,
    set_model,
)

__all__ = [
    "DeletionResult", "LOGIN_WINDOW_S", "MAX_FAILURES_PER_EMAIL", "MAX_FAILURES_PER_SOURCE",
    "MAX_PASSWORD_BYTES", "MIN_PASSWORD_CHARS", "SESSION_TTL_S", "authenticate", "change_password",
    "check_own_password", "check_password_policy", "clock", "confirm_reset", "create_session", "delete_account",
    "has_password", "hash_password", "link_phone", "logout", "logout_everywhere", "normalize_email", "normalize_phone",
    "operator_code", "passwords", "purge_pending", "register", "request_reset", "require_user",
    "resolve_session", "sessions", "set_model", "throttle", "unlink_phone", "user_for_phone", "verify_password",
    "write_export",
]
