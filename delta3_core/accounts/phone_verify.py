"""Phone linking from the web: a 6-digit code sent by SMS proves the number belongs to the user."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from typing import TYPE_CHECKING

from .. import accounts, store_keys
from ..errors import ConflictError, Delta3Error, ThrottledError, ValidationError

if TYPE_CHECKING:
    from delta3_core.config import Settings
    from delta3_core.services import Services

log = logging.getLogger("delta3.web")

CODE_TTL_S = 10 * 60
MAX_TRIES = 5  # wrong codes per pending code; then a new one must be sent
MAX_SENDS_PER_HOUR = 5  # each send costs money and reaches a stranger if the number is mistyped


# Kept by name for accounts/deletion.py.
pending_key = store_keys.phone_verify


def _code_hash(secret: str, user_id: str, phone: str, code: str) -> str:
    # Keyed and bound to user and phone: a stored hash is useless to someone who reads the store.
    return hmac.new(secret.encode(), f"{user_id}|{phone}|{code}".encode(), hashlib.sha256).hexdigest()


def send_code(services: Services, user_id: str, phone: str) -> str:
    """Text a code to `phone` (E.164 after normalising) and remember it for 10 minutes; return the number."""
    settings, records = services.settings, services.backend.records
    phone = accounts.normalize_phone(phone)
    owner = accounts.user_for_phone(services.backend, phone)
    if owner is not None and owner.user_id != user_id:
        raise ConflictError("That phone number is linked to another account.")
    if records.incr_counter(store_keys.phone_verify_sends(user_id), 3600) > MAX_SENDS_PER_HOUR:
        raise ThrottledError("Too many codes sent; try again in an hour.", retry_after=3600)
    code = f"{secrets.randbelow(10**6):06d}"
    record = {"phone": phone, "hash": _code_hash(settings.secret_key, user_id, phone, code), "tries": 0}
    records.put_value(store_keys.phone_verify(user_id), json.dumps(record), CODE_TTL_S)
    send_sms(settings, phone, f"Your DELTA3 code is {code}. It expires in 10 minutes.")
    return phone


def send_sms(settings: Settings, phone: str, body: str) -> None:
    """Text `body` to `phone` through Twilio; Delta3Error (a plain sentence) if it cannot be sent."""
    from twilio.base.exceptions import TwilioException

    from ..sms.sender import make_client

    try:
        make_client(settings).messages.create(to=phone, from_=settings.twilio_phone_number, body=body)
    except (TwilioException, OSError) as error:
        log.warning("verification SMS not sent: %s", type(error).__name__)
        raise Delta3Error("The code could not be sent to that number; check it and try again.") from None


def pending_phone(services: Services, user_id: str) -> str | None:
    """The number a code was sent to and is still waiting for, if any."""
    raw = services.backend.records.get_value(store_keys.phone_verify(user_id))
    return json.loads(raw)["phone"] if raw else None


def confirm_code(services: Services, user_id: str, code: str) -> str:
    """Check the code and link the phone; return it. ValidationError for a wrong or expired code."""
    records = services.backend.records
    raw = records.get_value(store_keys.phone_verify(user_id))
    if not raw:
        raise ValidationError("No code is waiting (it may have expired); send a new one.")
    record = json.loads(raw)
    expected = _code_hash(services.settings.secret_key, user_id, record["phone"], (code or "").strip())
    if not hmac.compare_digest(expected, record["hash"]):
        record["tries"] += 1
        if record["tries"] >= MAX_TRIES:
            records.delete_value(store_keys.phone_verify(user_id))
            raise ValidationError("Too many wrong codes; send a new one.")
        records.put_value(store_keys.phone_verify(user_id), json.dumps(record), CODE_TTL_S)
        raise ValidationError("That code is not right; check the SMS and try again.")
    records.delete_value(store_keys.phone_verify(user_id))
    return accounts.link_phone(services.backend, user_id, record["phone"])


def cancel(services: Services, user_id: str) -> None:
    """Forget a pending code."""
    services.backend.records.delete_value(store_keys.phone_verify(user_id))
