"""Phone links: one E.164 number per account, claimed atomically in the store."""

from __future__ import annotations

import re

from ..errors import ValidationError
from ..storage.base import Backend, UserRecord
from .users import require_user

_PHONE_SEPARATORS = re.compile(r"[\s\-().]")


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
    require_user(backend, user_id)
    # One store transaction claims the phone, sets user.phone and releases the old one: nothing half-done.
    backend.records.link_phone(phone, user_id)
    return phone


def unlink_phone(backend: Backend, user_id: str) -> None:
    """Remove the account's phone link (no-op if none)."""
    user = require_user(backend, user_id)
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
