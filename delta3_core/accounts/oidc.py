"""Sign in with an OpenID Connect provider (Google or any other): a verified email maps to an account.

The provider's identity only opens a DELTA3 session; the session (server-side, revocable) is what keeps a
user logged in. Each identity (one ID token) opens at most one session and only while it is fresh, so the
provider's long-lived identity cookie cannot log a user back in after logout or "log out everywhere".
An existing password account is linked to the provider account only once its password has been entered;
the link (issuer and subject) is kept in the user's prefs, so a reassigned email at the provider cannot
take the account over.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import store_keys
from ..errors import AuthError, ConflictError, ValidationError
from ..storage.base import Backend, UserRecord
from . import authenticate, normalize_email
from .users import NO_PASSWORD

LINKS = "oidc"  # UserRecord.prefs key: {issuer: subject} for each linked provider account
MAX_AGE_S = 10 * 60  # an identity older than this opens no session (the user signs in with the provider again)
CLOCK_SKEW_S = 60

# Module-level clock so tests can move time.
clock = time.time


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in: one ID token's claims that matter here."""

    issuer: str
    subject: str
    email: str
    issued_at: float
    nonce: str = ""

    @property
    def key(self) -> str:
        """A stable name for this one sign-in (the ID token), for the use-once record."""
        raw = "\n".join((self.issuer, self.subject, repr(self.issued_at), self.nonce))
        return store_keys.oidc_used(raw)


def identity_from_claims(claims: Mapping[str, Any]) -> Identity:
    """The identity in ID token claims (st.user); ValidationError unless the email is present and verified."""
    issuer, subject = str(claims.get("iss") or ""), str(claims.get("sub") or "")
    if not issuer or not subject:
        raise ValidationError("The sign-in provider did not say who you are; try again.")
    # Google sends a boolean; some providers send the string "true".
    if claims.get("email_verified") not in (True, "true", "True"):
        raise ValidationError("Your email address is not verified with the sign-in provider, so it cannot "
                              "open a DELTA3 account; verify it there, or log in with a password.")
    try:
        email = normalize_email(str(claims.get("email") or ""))
        issued_at = float(claims.get("iat"))
    except (TypeError, ValueError, ValidationError):  # normalize_email's own sentence speaks of a form field
        raise ValidationError("The sign-in provider sent no usable email address; try again.") from None
    return Identity(issuer, subject, email, issued_at, str(claims.get("nonce") or ""))


def is_fresh(identity: Identity, now: float | None = None) -> bool:
    """True while the identity may still open a session."""
    now = clock() if now is None else now
    return now - MAX_AGE_S <= identity.issued_at <= now + CLOCK_SKEW_S


def _check(identity: Identity) -> None:
    if not is_fresh(identity):
        raise AuthError("That sign-in has expired; sign in with the provider again.")


def _use(backend: Backend, identity: Identity) -> None:
    if not backend.records.claim(identity.key, MAX_AGE_S + 2 * CLOCK_SKEW_S):
        raise AuthError("That sign-in was already used; sign in with the provider again.")


def linked_subject(user: UserRecord, issuer: str) -> str | None:
    """The provider account (subject) linked to this DELTA3 account for `issuer`, if any."""
    links = user.prefs.get(LINKS) if isinstance(user.prefs, dict) else None
    return links.get(issuer) if isinstance(links, dict) else None


def sign_in(backend: Backend, identity: Identity) -> UserRecord | None:
    """The account for a fresh identity, made if the email is new; None if a password account must be linked.

    AuthError if the identity is stale or used, or the account is linked to another provider account.
    """
    _check(identity)
    user = backend.records.find_user_by_email(identity.email)
    if user is not None:
        linked = linked_subject(user, identity.issuer)
        if linked is None:
            return None
        if linked != identity.subject:
            raise AuthError("This email's DELTA3 account is linked to a different account at the sign-in "
                            "provider; log in with your password instead.")
        _use(backend, identity)
        return user
    _use(backend, identity)
    user = UserRecord(user_id=uuid.uuid4().hex, email=identity.email, password_hash=NO_PASSWORD,
                      created_at=clock(), prefs={LINKS: {identity.issuer: identity.subject}})
    try:
        backend.records.create_user(user)
    except ConflictError:  # registered a moment ago (another tab, or a password signup): link it first
        return None
    return user


def link(backend: Backend, identity: Identity, password: str, source: str | None = None) -> UserRecord:
    """Link the identity to the password account with its email, once that password is entered.

    AuthError for a wrong password (throttled like a login) or a stale or used identity.
    """
    _check(identity)
    user = authenticate(backend, identity.email, password, source=source)
    links = dict(user.prefs.get(LINKS) or {}) if isinstance(user.prefs, dict) else {}
    links[identity.issuer] = identity.subject
    user = backend.records.update_user(user.user_id, prefs={**(user.prefs or {}), LINKS: links})
    _use(backend, identity)
    return user
