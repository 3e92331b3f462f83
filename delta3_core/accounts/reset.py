"""Password reset without email: a 6-digit code by SMS to the linked phone, or from the operator.

Asking for a code answers the same whether or not the email has an account (no discovery). A code
lasts 10 minutes and allows 5 tries; asking and guessing are throttled per email and per source.
Success sets the new password and revokes every session and access token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

from .. import store_keys
from ..errors import AuthError, Delta3Error, NotFoundError, ValidationError
from ..storage.base import UserRecord
from . import clock
from .passwords import check_password_policy, hash_password, normalize_email
from .throttle import check_throttle, forget_failures, record_failure, throttle_keys

if TYPE_CHECKING:
    from delta3_core.services import Services

log = logging.getLogger("delta3.accounts")

CODE_TTL_S = 10 * 60
OPERATOR_CODE_TTL_S = 60 * 60  # the operator passes it on by hand, which takes longer than an SMS
MAX_TRIES = 5
WRONG_CODE = "That code is not right or has expired; ask for a new one."


# Kept by name for accounts/deletion.py.
reset_key = store_keys.password_reset


def _code_hash(secret: str, user_id: str, code: str) -> str:
    # Keyed and bound to the account: a hash read from the store neither reveals nor fits another code.
    return hmac.new(secret.encode(), f"reset|{user_id}|{code}".encode(), hashlib.sha256).hexdigest()


def _store_code(services: Services, user: UserRecord, ttl_s: int) -> str:
    code = f"{secrets.randbelow(10**6):06d}"
    record = {"user_id": user.user_id, "hash": _code_hash(services.settings.secret_key, user.user_id, code),
              "tries": 0, "expires_at": clock.now() + ttl_s}
    services.backend.records.put_value(store_keys.password_reset(user.email), json.dumps(record), ttl_s)
    return code


def request_reset(services: Services, email: str, source: str | None = None) -> None:
    """Text a code to the account's linked phone, if there is one; the same outcome for any email.

    ValidationError only for text that is not an email address; ThrottledError after too many requests.
    """
    email = normalize_email(email)
    keys = throttle_keys(email, source, kind="reset-ask")
    check_throttle(services.backend, keys, what="reset codes asked for")
    record_failure(services.backend, keys)  # every request counts, answered or not
    user = services.backend.records.find_user_by_email(email)
    if user is None or not user.phone or not services.settings.twilio_configured:
        return
    code = _store_code(services, user, CODE_TTL_S)
    from .phone_verify import send_sms

    try:
        send_sms(services.settings, user.phone, f"Your DELTA3 password reset code is {code}. It expires in "
                                                f"10 minutes. If you did not ask for it, ignore this message.")
    except Delta3Error as exc:  # said to nobody: the answer must not depend on the account
        log.warning("password reset SMS not sent: %s", exc)


def operator_code(services: Services, email: str) -> str:
    """A one-time code (valid 1 hour) for the operator to pass on; NotFoundError if there is no such account."""
    email = normalize_email(email)
    user = services.backend.records.find_user_by_email(email)
    if user is None:
        raise NotFoundError(f"There is no account for {email}.")
    return _store_code(services, user, OPERATOR_CODE_TTL_S)


def confirm_reset(services: Services, email: str, code: str, new_password: str,
                  source: str | None = None) -> UserRecord:
    """Set a new password with a valid code; revoke every session and token. AuthError for a wrong code."""
    records = services.backend.records
    try:
        email = normalize_email(email)
    except ValidationError:
        raise AuthError(WRONG_CODE) from None
    keys = throttle_keys(email, source, kind="reset-fail")
    check_throttle(services.backend, keys, what="wrong codes")
    raw = records.get_value(store_keys.password_reset(email))
    record = json.loads(raw) if raw else None
    code = code.strip() if isinstance(code, str) else ""
    if record is None or not hmac.compare_digest(
            _code_hash(services.settings.secret_key, record["user_id"], code), record["hash"]):
        record_failure(services.backend, keys)
        if record is not None:
            _count_try(records, email, record)
        raise AuthError(WRONG_CODE)
    user = records.get_user(record["user_id"])
    if user is None or user.email != email:
        records.delete_value(store_keys.password_reset(email))
        raise AuthError(WRONG_CODE)
    check_password_policy(new_password, email)  # before the code is used up: a weak choice costs no code
    now = clock.now()
    user = records.update_user(user.user_id, password_hash=hash_password(new_password), sessions_valid_after=now)
    records.delete_value(store_keys.password_reset(email))
    for token in records.list_access_tokens(user.user_id):  # whoever had the old password may have made one
        records.delete_access_token(user.user_id, token.token_id)
    forget_failures(services.backend, keys[0][0])
    forget_failures(services.backend, throttle_keys(email, None)[0][0])  # the owner may log in at once
    return user


def _count_try(records: Any, email: str, record: dict[str, Any]) -> None:
    """One more wrong try; the code dies at MAX_TRIES. Its expiry is kept, not extended."""
    record["tries"] += 1
    left = record["expires_at"] - clock.now()
    if record["tries"] >= MAX_TRIES or left <= 0:
        records.delete_value(store_keys.password_reset(email))
    else:
        records.put_value(store_keys.password_reset(email), json.dumps(record), max(1, int(left)))
