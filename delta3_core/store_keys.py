"""Every key of the key-value store (values, counters, claims), so their prefixes live in one place.

Keys that would carry an email, token or address hold a digest of it instead: the store never
sees those in clear.
"""

from __future__ import annotations

import hashlib


def _digest(text: str, chars: int = 32) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:chars]


# -- SMS channel
def sms_seen(sid: str) -> str:
    """The claim that marks a Twilio MessageSid as taken."""
    return f"sms:sid:{sid}"


def sms_rate_phone(phone: str) -> str:
    """The per-minute message counter of one phone."""
    return f"sms:rate:phone:{phone}"


def sms_rate_global() -> str:
    """The per-minute message counter of all phones together."""
    return "sms:rate:global"


def sms_busy(phone: str) -> str:
    """The claim that a phone was already told the service is busy this minute."""
    return f"sms:busy:{phone}"


def sms_optout(phone: str) -> str:
    """The value that marks a phone as opted out (STOP)."""
    return f"sms:optout:{phone}"


def sms_more(phone: str, user_id: str) -> str:
    """The pages kept for MORE: per account too, so a phone that changes hands shows none."""
    return f"sms:more:{phone}:{user_id}"


# -- accounts
def failure_counter(kind: str, what: str, value: str) -> str:
    """A failed-attempt counter, e.g. kind `login-fail`, what `email` or `src`."""
    return f"{kind}:{what}:" + _digest(value)


def password_reset(email: str) -> str:
    """The password-reset code waiting for `email`."""
    return "pw-reset:" + _digest(email)


def phone_verify(user_id: str) -> str:
    """The code waiting to link a phone to `user_id`."""
    return f"phone-verify:{user_id}"


def phone_verify_sends(user_id: str) -> str:
    """The hourly counter of verification codes sent for `user_id`."""
    return f"phone-verify-sends:{user_id}"


def oidc_used(token_name: str) -> str:
    """The use-once claim of one OIDC ID token (named by issuer, subject, time and nonce)."""
    return "oidc-used:" + _digest(token_name, 40)


# -- models and the REST API
def models_cache(user_id: str, api_key: str) -> str:
    """The cached model list of a user's key: per key, as a new key may see other models."""
    return f"models:{user_id}:{_digest(api_key, 16)}"


def idempotency(user_id: str, key: str) -> str:
    """The answer (or claim) kept for one Idempotency-Key of a user."""
    return "idem:" + hashlib.sha256(f"{user_id}\0{key}".encode("utf-8", "surrogatepass")).hexdigest()


def api_rate_token(token: str) -> str:
    """The per-minute request counter of one API token."""
    return "api:token:" + _digest(token)


def api_rate_account(user_id: str) -> str:
    """The per-minute request counter of one account."""
    return "api:account:" + user_id


def api_rate_source(address: str) -> str:
    """The per-minute request counter of one source address."""
    return "api:source:" + _digest(address)
