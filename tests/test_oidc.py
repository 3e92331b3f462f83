"""Sign in with an OIDC provider: claims to identity, account lookup or creation, linking, use-once, freshness.

The whole flow through Streamlit's st.login, Authlib and a fake provider is in test_e2e_addresses.py.
"""

from __future__ import annotations

import pytest

from delta3_core import accounts
from delta3_core.accounts import oidc
from delta3_core.errors import AuthError, ThrottledError, ValidationError

NOW = 1_800_000_000.0
ISSUER = "https://accounts.example.test"
PASSWORD = "correct horse 42"


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    monkeypatch.setattr(oidc, "clock", lambda: NOW)
    monkeypatch.setattr(accounts, "clock", lambda: NOW)


def claims(**changes) -> dict:
    base = {"iss": ISSUER, "sub": "g-1001", "email": "Ada@Example.com", "email_verified": True,
            "iat": int(NOW) - 5, "nonce": "n-1", "name": "Ada"}
    return {**base, **changes}


def identity(**changes) -> oidc.Identity:
    return oidc.identity_from_claims(claims(**changes))


def test_claims_give_a_normalized_verified_identity():
    got = identity()
    assert (got.issuer, got.subject, got.email, got.issued_at) == (ISSUER, "g-1001", "ada@example.com", NOW - 5)
    assert identity(email_verified="true").email == "ada@example.com"  # some providers send a string


@pytest.mark.parametrize(("change", "message"), [
    ({"email_verified": False}, "not verified"),
    ({"email_verified": None}, "not verified"),
    ({"email": ""}, "no usable email"),
    ({"email": "not an email"}, "no usable email"),
    ({"iat": None}, "no usable email"),
    ({"sub": ""}, "did not say who you are"),
])
def test_unusable_claims_are_refused_with_a_sentence(change, message):
    with pytest.raises(ValidationError, match=message):
        identity(**change)


def test_a_new_email_creates_an_account_without_a_password(backend):
    user = oidc.sign_in(backend, identity())
    assert user.email == "ada@example.com" and oidc.linked_subject(user, ISSUER) == "g-1001"
    stored = backend.records.find_user_by_email("ada@example.com")
    assert stored.user_id == user.user_id and oidc.linked_subject(stored, ISSUER) == "g-1001"
    for guess in ("", "!", oidc.NO_PASSWORD):  # no password logs in to it
        with pytest.raises(AuthError):
            accounts.authenticate(backend, "ada@example.com", guess)
    again = oidc.sign_in(backend, identity(iat=int(NOW) - 1, nonce="n-2"))  # a later sign-in, same account
    assert again.user_id == user.user_id


def test_an_identity_opens_one_session_only(backend):
    first = identity()
    assert oidc.sign_in(backend, first) is not None
    with pytest.raises(AuthError, match="already used"):
        oidc.sign_in(backend, first)


def test_a_stale_identity_opens_nothing(backend, monkeypatch):
    old = identity(iat=int(NOW) - oidc.MAX_AGE_S - 1)
    assert not oidc.is_fresh(old)
    with pytest.raises(AuthError, match="expired"):
        oidc.sign_in(backend, old)
    assert backend.records.find_user_by_email("ada@example.com") is None
    assert not oidc.is_fresh(identity(iat=int(NOW) + oidc.CLOCK_SKEW_S + 5))  # from the future


def test_a_password_account_is_linked_only_with_its_password(backend):
    owner = accounts.register(backend, "ada@example.com", PASSWORD)
    first = identity()
    assert oidc.sign_in(backend, first) is None  # not linked yet: the page asks for the password
    with pytest.raises(AuthError, match="Wrong email or password"):
        oidc.link(backend, first, "wrong password 1")
    assert oidc.linked_subject(backend.records.get_user(owner.user_id), ISSUER) is None
    linked = oidc.link(backend, first, PASSWORD)
    assert linked.user_id == owner.user_id and oidc.linked_subject(linked, ISSUER) == "g-1001"
    assert accounts.authenticate(backend, "ada@example.com", PASSWORD).user_id == owner.user_id  # password kept
    with pytest.raises(AuthError, match="already used"):
        oidc.link(backend, first, PASSWORD)
    later = oidc.sign_in(backend, identity(iat=int(NOW) - 1, nonce="n-2"))  # from now on, no password asked
    assert later.user_id == owner.user_id


def test_a_linked_account_refuses_another_subject_with_the_same_email(backend):
    oidc.sign_in(backend, identity())
    with pytest.raises(AuthError, match="linked to a different account"):
        oidc.sign_in(backend, identity(sub="g-2002", nonce="n-3"))


def test_linking_is_throttled_like_a_login(backend):
    accounts.register(backend, "ada@example.com", PASSWORD)
    first = identity()
    for _ in range(accounts.MAX_FAILURES_PER_EMAIL):
        with pytest.raises(AuthError):
            oidc.link(backend, first, "wrong password 1")
    with pytest.raises(ThrottledError, match="Too many failed logins"):
        oidc.link(backend, first, PASSWORD)


def test_a_password_less_account_deletes_with_its_typed_email_and_can_set_a_password(services_backend):
    services, backend = services_backend
    user = oidc.sign_in(backend, identity())
    assert not accounts.has_password(user)
    for wrong in (None, "", "bob@example.com"):
        with pytest.raises(ValidationError, match="type its email address"):
            accounts.delete_account(services, user.user_id, None, wrong)
    accounts.change_password(backend, user.user_id, "", PASSWORD)  # no current password to give
    assert accounts.authenticate(backend, "ada@example.com", PASSWORD).user_id == user.user_id
    with pytest.raises(AuthError):  # once it has a password, the password is what confirms
        accounts.delete_account(services, user.user_id, "wrong password 1", "ada@example.com")
    assert accounts.delete_account(services, user.user_id, PASSWORD).complete


def test_a_password_less_account_is_deleted_with_its_email(services_backend):
    services, backend = services_backend
    user = oidc.sign_in(backend, identity())
    assert accounts.delete_account(services, user.user_id, None, " ADA@example.com").complete
    assert backend.records.get_user(user.user_id) is None


@pytest.fixture
def services_backend(backend, settings):
    from delta3_core.services import Services

    return Services(settings, backend), backend
