"""Password reset by a 6-digit SMS code (or an operator's code): right, wrong, expired, unknown, throttled."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from delta3_core import accounts
from delta3_core.accounts import reset, tokens
from delta3_core.errors import AuthError, ThrottledError, ValidationError
from delta3_core.services import Services
from delta3_core.storage import open_backend

PASSWORD, NEW_PASSWORD = "correct horse 42", "battery staple 43"
PHONE = "+14155550100"


@pytest.fixture
def services(sms_settings):
    built = Services(sms_settings, open_backend(sms_settings))
    yield built
    built.backend.records.close()


@pytest.fixture
def ada(services):
    user = accounts.register(services.backend, "ada@example.com", PASSWORD)
    accounts.link_phone(services.backend, user.user_id, PHONE)
    return user


def texted_code(fake_twilio, count: int = 1) -> str:
    message = fake_twilio.wait_for(count)[count - 1]
    assert message["to"] == PHONE
    return re.search(r"\b(\d{6})\b", message["body"]).group(1)


def test_the_right_code_sets_the_password_and_revokes_every_session(services, ada, fake_twilio):
    token = accounts.create_session(services.backend, ada.user_id)
    _record, personal = tokens.create_token(services.backend, ada.user_id, "laptop")
    reset.request_reset(services, " Ada@Example.com ", source="203.0.113.5")
    code = texted_code(fake_twilio)
    assert "expires in 10 minutes" in fake_twilio.messages[0]["body"]
    with pytest.raises(ValidationError, match="at least 10"):
        reset.confirm_reset(services, "ada@example.com", code, "short")  # a weak password keeps the code
    reset.confirm_reset(services, "ada@example.com", code, NEW_PASSWORD)
    assert accounts.resolve_session(services.backend, token) is None
    assert tokens.resolve_bearer(services.backend, personal) is None
    assert accounts.authenticate(services.backend, "ada@example.com", NEW_PASSWORD).user_id == ada.user_id
    with pytest.raises(AuthError):
        accounts.authenticate(services.backend, "ada@example.com", PASSWORD)
    with pytest.raises(AuthError, match="not right or has expired"):  # a code works once
        reset.confirm_reset(services, "ada@example.com", code, "another pass 44")


def test_wrong_codes_count_and_the_fifth_kills_the_code(services, ada, fake_twilio, steady_window):
    reset.request_reset(services, "ada@example.com")
    code = texted_code(fake_twilio)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(reset.MAX_TRIES - 1):
        with pytest.raises(AuthError):
            reset.confirm_reset(services, "ada@example.com", wrong, NEW_PASSWORD, source="203.0.113.1")
    reset.confirm_reset(services, "ada@example.com", code, NEW_PASSWORD)  # 4 wrong tries leave the code usable
    reset.request_reset(services, "ada@example.com")
    code = texted_code(fake_twilio, 2)
    for _ in range(reset.MAX_TRIES):
        with pytest.raises(AuthError, match="not right or has expired"):
            reset.confirm_reset(services, "ada@example.com", wrong, "third pass word 45")
    with pytest.raises((AuthError, ThrottledError)):
        reset.confirm_reset(services, "ada@example.com", code, "third pass word 45")  # the code is gone
    assert reset.reset_key("ada@example.com") and not services.backend.records.get_value(
        reset.reset_key("ada@example.com"))
    assert accounts.authenticate(services.backend, "ada@example.com", NEW_PASSWORD).user_id == ada.user_id


def test_an_expired_code_is_refused(services, ada, fake_twilio, monkeypatch):
    reset.request_reset(services, "ada@example.com")
    code = texted_code(fake_twilio)
    # The store forgets the code after its 10 minutes; do what the store does then, by its own clock.
    real_time = __import__("time").time
    monkeypatch.setattr("delta3_core.storage.sqlite.time.time", lambda: real_time() + reset.CODE_TTL_S + 1)
    with pytest.raises(AuthError, match="not right or has expired"):
        reset.confirm_reset(services, "ada@example.com", code, NEW_PASSWORD)
    monkeypatch.undo()
    assert accounts.authenticate(services.backend, "ada@example.com", PASSWORD)


def test_unknown_email_and_no_phone_get_the_same_answer_and_no_sms(services, ada, fake_twilio):
    accounts.register(services.backend, "nophone@example.com", PASSWORD)
    assert reset.request_reset(services, "nobody@example.com") is None
    assert reset.request_reset(services, "nophone@example.com") is None
    reset.request_reset(services, "ada@example.com")
    assert [m["to"] for m in fake_twilio.wait_for(1)] == [PHONE]  # only the account with a phone got one
    with pytest.raises(AuthError, match="not right or has expired"):
        reset.confirm_reset(services, "nobody@example.com", "123456", NEW_PASSWORD)
    with pytest.raises(ValidationError):
        reset.request_reset(services, "not an email")


def test_asking_is_throttled_per_email_and_per_source(services, ada, fake_twilio, steady_window):
    for _ in range(accounts.MAX_FAILURES_PER_EMAIL):
        reset.request_reset(services, "ada@example.com")
    with pytest.raises(ThrottledError, match="Too many reset codes"):
        reset.request_reset(services, "ada@example.com")
    with pytest.raises(ThrottledError):  # the same for an address without an account: no discovery
        for _ in range(accounts.MAX_FAILURES_PER_EMAIL + 1):
            reset.request_reset(services, "nobody@example.com")
    for i in range(accounts.MAX_FAILURES_PER_SOURCE):
        reset.request_reset(services, f"user{i}@example.org", source="198.51.100.7")
    with pytest.raises(ThrottledError):
        reset.request_reset(services, "fresh@example.org", source="198.51.100.7")
    reset.request_reset(services, "fresh@example.org", source="198.51.100.8")


def test_guessing_is_throttled_per_source_across_emails(services, ada, steady_window):
    for i in range(accounts.MAX_FAILURES_PER_SOURCE):
        with pytest.raises(AuthError):
            reset.confirm_reset(services, f"user{i}@example.org", "000000", NEW_PASSWORD, source="198.51.100.9")
    with pytest.raises(ThrottledError, match="Too many wrong codes"):
        reset.confirm_reset(services, "ada@example.com", "000000", NEW_PASSWORD, source="198.51.100.9")


def test_the_operator_command_prints_a_code_that_works(services, sms_settings):
    user = accounts.register(services.backend, "nophone@example.com", PASSWORD)
    env = {**os.environ, "DELTA3_DATA_DIR": str(sms_settings.data_dir), "DELTA3_SECRET_KEY": sms_settings.secret_key,
           "DELTA3_BACKEND": "local"}
    done = subprocess.run([sys.executable, "-m", "delta3_core", "reset-password", "nophone@example.com"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    code = re.search(r"code for nophone@example.com: (\d{6})", done.stdout).group(1)
    reset.confirm_reset(services, "nophone@example.com", code, NEW_PASSWORD)
    assert accounts.authenticate(services.backend, "nophone@example.com", NEW_PASSWORD).user_id == user.user_id
    unknown = subprocess.run([sys.executable, "-m", "delta3_core", "reset-password", "nobody@example.com"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 1 and "no account for nobody@example.com" in unknown.stderr
