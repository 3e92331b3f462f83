"""Accounts: registration, login and its throttling, sessions, password change, phone links."""

from __future__ import annotations

import unicodedata

import pytest

from delta3_core import accounts
from delta3_core.errors import AuthError, ConflictError, ThrottledError, ValidationError
from delta3_core.storage.base import Backend

PASSWORD = "correct horse 42"


@pytest.fixture
def clock(monkeypatch):
    """A clock the test moves by hand."""

    class Clock:
        now = 1_800_000_000.0

        def __call__(self):
            return self.now

    fake = Clock()
    monkeypatch.setattr(accounts.clock, "now", fake)
    return fake


@pytest.fixture
def second_backend(backend):
    """Makes another Backend on the same store, as a second process or app replica would open it."""
    records = backend.records
    if hasattr(records, "db_path"):  # local: another SQLite connection to the same file
        from delta3_core.storage.sqlite import SqliteRecordStore

        def other_records():
            return SqliteRecordStore(records.db_path)
    else:  # AWS: another boto3 client on the same table
        from delta3_core.storage.dynamo import DynamoRecordStore

        def other_records():
            return DynamoRecordStore(records.table)
    return lambda: Backend(other_records(), backend.files, backend.cipher)


@pytest.fixture
def user(backend):
    return accounts.register(backend, "Ada@Example.com", PASSWORD)


# ---------------------------------------------------------------- registration

def test_register_normalises_email_and_never_stores_the_password(backend):
    user = accounts.register(backend, "  Ada.Lovelace@Example.COM ", PASSWORD)
    assert user.email == "ada.lovelace@example.com"
    stored = backend.records.get_user(user.user_id)
    assert stored.email == "ada.lovelace@example.com"
    assert PASSWORD not in stored.password_hash
    assert accounts.authenticate(backend, "ADA.LOVELACE@example.com", PASSWORD).user_id == user.user_id


def test_duplicate_email_is_refused_whatever_its_case(backend, user):
    with pytest.raises(ConflictError, match="already exists"):
        accounts.register(backend, " ADA@example.COM", "another pass 99")
    assert accounts.authenticate(backend, "ada@example.com", PASSWORD).user_id == user.user_id


def test_an_international_email_registers_and_logs_in_however_it_is_typed(backend):
    user = accounts.register(backend, "José@Bücher.de", PASSWORD)
    assert user.email == "josé@bücher.de"
    typed_on_a_mac = unicodedata.normalize("NFD", "JOSÉ@BÜCHER.DE")  # the same letters, decomposed
    assert accounts.authenticate(backend, typed_on_a_mac, PASSWORD).user_id == user.user_id
    assert accounts.authenticate(backend, "josé@xn--bcher-kva.de", PASSWORD).user_id == user.user_id
    with pytest.raises(ConflictError, match="already exists"):
        accounts.register(backend, unicodedata.normalize("NFD", "josé@bücher.de"), "another pass 99")


@pytest.mark.parametrize("email", ["", "   ", "ada", "ada@", "@example.com", "ada@example", "a da@example.com",
                                   "ada@exa mple.com", "ada@@example.com", "x" * 65 + "@example.com",
                                   "jo sé@bücher.de", "josé@bü cher.de", "josé@bücher"])
def test_bad_emails_are_refused(backend, email):
    with pytest.raises(ValidationError, match="email"):
        accounts.register(backend, email, PASSWORD)


@pytest.mark.parametrize(("password", "why"), [
    ("short1A", "at least 10"),
    ("abcdefghijkl", "two kinds"),
    ("123456789012", "two kinds"),
    ("my-adalovelace-9", "email name"),
    ("Aa1!" * 40, "at most 128 bytes"),
    ("é" * 65 + "x1", "at most 128 bytes"),  # 132 bytes in UTF-8 though only 67 characters
])
def test_weak_or_oversized_passwords_are_refused_with_the_reason(backend, password, why):
    with pytest.raises(ValidationError, match=why):
        accounts.register(backend, "adalovelace@example.com", password)
    assert backend.records.find_user_by_email("adalovelace@example.com") is None


def test_long_passwords_differ_beyond_bcrypts_72_bytes(backend):
    base = "Z1" * 40  # 80 bytes: plain bcrypt would ignore everything after byte 72
    accounts.register(backend, "long@example.com", base + "aa")
    assert accounts.authenticate(backend, "long@example.com", base + "aa")
    with pytest.raises(AuthError):
        accounts.authenticate(backend, "long@example.com", base + "bb")


# ---------------------------------------------------------------- login

def test_wrong_password_and_unknown_email_get_the_same_answer(backend, user):
    with pytest.raises(AuthError) as wrong:
        accounts.authenticate(backend, "ada@example.com", "not the password 1")
    with pytest.raises(AuthError) as unknown:
        accounts.authenticate(backend, "nobody@example.com", PASSWORD)
    with pytest.raises(AuthError) as malformed:
        accounts.authenticate(backend, "not an email", PASSWORD)
    assert str(wrong.value) == str(unknown.value) == str(malformed.value) == "Wrong email or password."
    assert PASSWORD not in str(unknown.value)


def test_login_is_throttled_after_five_failures_even_with_the_right_password(backend, user, steady_window):
    for _ in range(accounts.MAX_FAILURES_PER_EMAIL):
        with pytest.raises(AuthError):
            accounts.authenticate(backend, "ada@example.com", "guess number 1")
    with pytest.raises(ThrottledError) as throttled:
        accounts.authenticate(backend, "ada@example.com", PASSWORD)
    assert 0 < throttled.value.retry_after <= accounts.LOGIN_WINDOW_S
    assert "try again" in str(throttled.value)


def test_a_successful_login_forgets_earlier_typos(backend, user, steady_window):
    for _round in range(2):
        for _ in range(accounts.MAX_FAILURES_PER_EMAIL - 1):
            with pytest.raises(AuthError):
                accounts.authenticate(backend, "ada@example.com", "typo password 1")
        assert accounts.authenticate(backend, "ada@example.com", PASSWORD).user_id == user.user_id


def test_throttling_holds_across_processes_sharing_the_store(backend, user, second_backend, steady_window):
    """Failures counted by one app replica stop a login on another."""
    other = second_backend()
    for i in range(accounts.MAX_FAILURES_PER_EMAIL):
        with pytest.raises(AuthError):
            accounts.authenticate(backend if i % 2 else other, "ADA@example.com", "guess number 1")
    with pytest.raises(ThrottledError):
        accounts.authenticate(other, "ada@example.com", PASSWORD)
    with pytest.raises(ThrottledError):
        accounts.authenticate(backend, "ada@example.com", PASSWORD)


def test_unknown_emails_are_throttled_too(backend, steady_window):
    for _ in range(accounts.MAX_FAILURES_PER_EMAIL):
        with pytest.raises(AuthError):
            accounts.authenticate(backend, "ghost@example.com", PASSWORD)
    with pytest.raises(ThrottledError):
        accounts.authenticate(backend, "ghost@example.com", PASSWORD)


def test_one_source_guessing_many_emails_is_throttled(backend, user, steady_window):
    for i in range(accounts.MAX_FAILURES_PER_SOURCE):
        with pytest.raises(AuthError):
            accounts.authenticate(backend, f"victim{i}@example.com", "guess number 1", source="203.0.113.9")
    with pytest.raises(ThrottledError):
        accounts.authenticate(backend, "ada@example.com", PASSWORD, source="203.0.113.9")
    with pytest.raises(ThrottledError):
        accounts.authenticate(backend, "not an email", PASSWORD, source="203.0.113.9")
    # the real owner, elsewhere, is not locked out by someone else's guessing
    assert accounts.authenticate(backend, "ada@example.com", PASSWORD, source="198.51.100.7")


# ---------------------------------------------------------------- sessions

def test_session_resolves_until_it_expires_after_seven_days(backend, user, clock):
    token = accounts.create_session(backend, user.user_id)
    assert len(token) >= 40
    assert backend.records.get_session(token) is None  # only the hash is stored
    clock.now += accounts.SESSION_TTL_S - 60
    assert accounts.resolve_session(backend, token).user_id == user.user_id
    clock.now += 120
    assert accounts.resolve_session(backend, token) is None
    clock.now -= 3600  # and an expired session is gone for good, not hidden
    assert accounts.resolve_session(backend, token) is None


@pytest.mark.parametrize("token", [None, "", "made-up-token", "x" * 10_000])
def test_unknown_tokens_resolve_to_nobody(backend, user, token):
    assert accounts.resolve_session(backend, token) is None


def test_logout_ends_only_that_session(backend, user):
    laptop = accounts.create_session(backend, user.user_id)
    phone = accounts.create_session(backend, user.user_id)
    accounts.logout(backend, laptop)
    assert accounts.resolve_session(backend, laptop) is None
    assert accounts.resolve_session(backend, phone).user_id == user.user_id
    accounts.logout(backend, "never-existed")  # harmless


def test_logout_everywhere_ends_every_session(backend, user, clock):
    sessions = [accounts.create_session(backend, user.user_id) for _ in range(3)]
    clock.now += 1
    accounts.logout_everywhere(backend, user.user_id)
    assert all(accounts.resolve_session(backend, t) is None for t in sessions)
    clock.now += 1
    fresh = accounts.create_session(backend, user.user_id)
    assert accounts.resolve_session(backend, fresh).user_id == user.user_id


def test_change_password_revokes_old_sessions_and_returns_a_working_one(backend, user, clock):
    old_session = accounts.create_session(backend, user.user_id)
    clock.now += 5
    new_session = accounts.change_password(backend, user.user_id, PASSWORD, "brand new pass 7")
    assert accounts.resolve_session(backend, old_session) is None
    assert accounts.resolve_session(backend, new_session).user_id == user.user_id
    with pytest.raises(AuthError):
        accounts.authenticate(backend, "ada@example.com", PASSWORD)
    assert accounts.authenticate(backend, "ada@example.com", "brand new pass 7").user_id == user.user_id


def test_change_password_with_wrong_old_password_changes_nothing(backend, user):
    session = accounts.create_session(backend, user.user_id)
    with pytest.raises(AuthError, match="current password"):
        accounts.change_password(backend, user.user_id, "wrong old pass 1", "brand new pass 7")
    with pytest.raises(ValidationError, match="at least 10"):
        accounts.change_password(backend, user.user_id, PASSWORD, "short")
    assert accounts.resolve_session(backend, session).user_id == user.user_id
    assert accounts.authenticate(backend, "ada@example.com", PASSWORD)


# ---------------------------------------------------------------- phones

@pytest.mark.parametrize(("raw", "e164"), [
    ("+14155550100", "+14155550100"),
    (" +1 (415) 555-0100 ", "+14155550100"),
    ("+44 20 7946 0958", "+442079460958"),
    ("0049 30 1234567", "+49301234567"),
])
def test_phone_numbers_are_normalised_to_e164(raw, e164):
    assert accounts.normalize_phone(raw) == e164


@pytest.mark.parametrize("raw", ["", "4155550100", "+1 415 CALL NOW", "+0123456789", "+1234567",
                                 "+1234567890123456", "++14155550100",
                                 "+1\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661"])  # Arabic-Indic digits
def test_bad_phone_numbers_are_refused(raw):
    with pytest.raises(ValidationError, match="phone"):
        accounts.normalize_phone(raw)


def test_link_and_find_user_by_phone(backend, user):
    assert accounts.link_phone(backend, user.user_id, "+1 415-555-0100") == "+14155550100"
    assert accounts.user_for_phone(backend, "+14155550100").user_id == user.user_id
    assert backend.records.get_user(user.user_id).phone == "+14155550100"
    assert accounts.user_for_phone(backend, "+14155550199") is None
    assert accounts.user_for_phone(backend, "garbage") is None


def test_a_phone_linked_to_another_account_is_refused(backend, user):
    other = accounts.register(backend, "grace@example.com", "another pass 99")
    accounts.link_phone(backend, user.user_id, "+14155550100")
    with pytest.raises(ConflictError, match="another account"):
        accounts.link_phone(backend, other.user_id, "+1 (415) 555 0100")
    assert accounts.user_for_phone(backend, "+14155550100").user_id == user.user_id
    assert backend.records.get_user(other.user_id).phone is None


def test_linking_a_new_phone_releases_the_old_one(backend, user):
    other = accounts.register(backend, "grace@example.com", "another pass 99")
    accounts.link_phone(backend, user.user_id, "+14155550100")
    accounts.link_phone(backend, user.user_id, "+14155550111")
    assert accounts.user_for_phone(backend, "+14155550100") is None
    accounts.link_phone(backend, other.user_id, "+14155550100")  # now free for someone else
    assert accounts.user_for_phone(backend, "+14155550100").user_id == other.user_id
    assert accounts.user_for_phone(backend, "+14155550111").user_id == user.user_id


def test_unlink_phone(backend, user):
    accounts.link_phone(backend, user.user_id, "+14155550100")
    accounts.unlink_phone(backend, user.user_id)
    assert accounts.user_for_phone(backend, "+14155550100") is None
    assert backend.records.get_user(user.user_id).phone is None
    accounts.unlink_phone(backend, user.user_id)  # nothing linked: no error


# ---------------------------------------------------------------- model

def test_set_model_and_back_to_default(backend, user):
    assert accounts.set_model(backend, user.user_id, " gemini-2.5-pro ").model == "gemini-2.5-pro"
    assert backend.records.get_user(user.user_id).model == "gemini-2.5-pro"
    assert accounts.set_model(backend, user.user_id, "").model is None


def test_set_model_refuses_nonsense(backend, user):
    with pytest.raises(ValidationError, match="model"):
        accounts.set_model(backend, user.user_id, "gemini; rm -rf /")
    assert backend.records.get_user(user.user_id).model is None
