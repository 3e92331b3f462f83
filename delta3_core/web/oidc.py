"""Sign in with Google (any OIDC provider) on the web: the identity st.login brings back opens a DELTA3 session.

Streamlit keeps the provider's identity in its own 30-day cookie; here it only opens a session once
(delta3_core.accounts.oidc), and the session decides from then on, as for a password login.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from ..accounts import oidc
from ..errors import AuthError, Delta3Error
from . import auth as webauth

if TYPE_CHECKING:
    from delta3_core.services import Services

_PENDING = "_delta3_oidc_pending"  # an identity waiting for the password of the account it would link to
_SEEN = "_delta3_oidc_seen"  # identities already handled in this browser session


def provider_name() -> str:
    """How the sign-in button names the provider."""
    try:
        url = str(st.secrets["auth"].get("server_metadata_url", ""))
    except Exception:  # misconfigured [auth]: st.login says what is wrong when pressed
        url = ""
    return "Google" if "accounts.google.com" in url else "single sign-on"


def user_from_identity(services: Services):
    """Log in with the provider identity Streamlit holds, if it is fresh and unused; the user or None."""
    claims = webauth.provider_identity()
    if claims is None or st.session_state.get(webauth._SIGNED_OUT):
        return None
    try:
        identity = oidc.identity_from_claims(claims)
    except Delta3Error as error:
        _once(repr(sorted(claims.items())), lambda e=error: webauth._flash_error(e))
        return None
    # A stale identity (an old cookie) opens nothing, silently: the login page offers the button again.
    if not oidc.is_fresh(identity) or not _once(identity.key, lambda: None):
        return None
    try:
        user = oidc.sign_in(services.backend, identity)
    except Delta3Error as error:
        webauth._flash_error(error)
        return None
    if user is None:
        st.session_state[_PENDING] = identity
        return None
    webauth._start_session(services, user.user_id)
    return webauth.current_user(services)


def _once(key: str, action) -> bool:
    """Run `action` the first time `key` is seen in this browser session; True if it was the first time."""
    seen = st.session_state.setdefault(_SEEN, set())
    if key in seen:
        return False
    seen.add(key)
    action()
    return True


def sign_in_button() -> None:
    """'Sign in with Google' (or the configured provider), when [auth] is set up in secrets."""
    if webauth.provider_configured() and st.button(
            f"Sign in with {provider_name()}", icon=":material/account_circle:", width="stretch"):
        st.login()


def link_form(services: Services) -> bool:
    """If a provider sign-in waits for the password of the account with its email, ask for it; True if shown."""
    identity = st.session_state.get(_PENDING)
    if identity is None:
        return False
    with st.form("oidc_link", border=True):
        st.subheader("Link your account", anchor=False)
        st.write(f"**{webauth.plain(identity.email)}** already has a DELTA3 account. Enter its password once; "
                 f"from then on {provider_name()} signs you in.")
        st.text_input("DELTA3 password", key="oidc_link_password", type="password", autocomplete="current-password")
        st.form_submit_button("Link and log in", type="primary", width="stretch", on_click=link, args=(services,))
    st.button("Cancel", on_click=cancel)
    return True


def link(services: Services) -> None:
    """Link form callback: prove the password account is yours, link it, and log in."""
    identity = st.session_state.get(_PENDING)
    password = st.session_state.pop("oidc_link_password", "")
    if identity is None:
        return
    try:
        user = oidc.link(services.backend, identity, password, source=webauth._client_source())
    except Delta3Error as error:
        if isinstance(error, AuthError) and not oidc.is_fresh(identity):
            st.session_state.pop(_PENDING, None)  # too late: the button starts a fresh sign-in
        webauth._flash_error(error)
        return
    st.session_state.pop(_PENDING, None)
    webauth._start_session(services, user.user_id)


def cancel() -> None:
    """Drop the waiting identity (and the provider's cookie), back to the plain login form."""
    st.session_state.pop(_PENDING, None)
    st.logout()
