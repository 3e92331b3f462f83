"""The key-value store's keys: their formats are stored data, so an upgrade must keep finding what was written."""

from __future__ import annotations

import hashlib

from delta3_core import store_keys


def _digest(text: str, chars: int = 32) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:chars]


def test_keys_keep_the_formats_already_in_stores():
    phone, user = "+15550001111", "u" * 32
    assert store_keys.sms_seen("SM1") == "sms:sid:SM1"
    assert store_keys.sms_rate_phone(phone) == f"sms:rate:phone:{phone}"
    assert store_keys.sms_rate_global() == "sms:rate:global"
    assert store_keys.sms_busy(phone) == f"sms:busy:{phone}"
    assert store_keys.sms_optout(phone) == f"sms:optout:{phone}"
    assert store_keys.sms_more(phone, user) == f"sms:more:{phone}:{user}"
    assert store_keys.failure_counter("login-fail", "email", "a@b.c") == "login-fail:email:" + _digest("a@b.c")
    assert store_keys.password_reset("a@b.c") == "pw-reset:" + _digest("a@b.c")
    assert store_keys.phone_verify(user) == f"phone-verify:{user}"
    assert store_keys.phone_verify_sends(user) == f"phone-verify-sends:{user}"
    assert store_keys.oidc_used("iss\nsub") == "oidc-used:" + _digest("iss\nsub", 40)
    assert store_keys.models_cache(user, "AIza-k") == f"models:{user}:" + _digest("AIza-k", 16)
    assert store_keys.idempotency(user, "k1") == "idem:" + hashlib.sha256(f"{user}\0k1".encode()).hexdigest()
    assert store_keys.api_rate_token("t") == "api:token:" + _digest("t")
    assert store_keys.api_rate_account(user) == f"api:account:{user}"
    assert store_keys.api_rate_source("10.0.0.1") == "api:source:" + _digest("10.0.0.1")


def test_no_key_carries_an_address_or_secret_in_clear():
    for key in (store_keys.failure_counter("login-fail", "src", "203.0.113.9"), store_keys.password_reset("a@b.c"),
                store_keys.models_cache("u", "AIza-secret"), store_keys.api_rate_token("secret-token"),
                store_keys.api_rate_source("203.0.113.9"), store_keys.idempotency("u", "client-key")):
        assert not any(clear in key for clear in ("203.0.113.9", "a@b.c", "AIza-secret", "secret-token", "client-key"))
