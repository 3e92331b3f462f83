"""Settings page callbacks: each reads its form fields, calls the core, leaves one sentence to show."""

from __future__ import annotations

import streamlit as st

from .. import accounts, keys
from ..accounts import phone_verify
from ..accounts import tokens as pat
from ..errors import ValidationError
from . import auth as webauth
from .auth import act

# Offered in the model menu; DELTA3_MODEL (the server default) is always first.
MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite", "gemini-2.0-flash")


def _user_id() -> str:
    return webauth.require_user().user_id


def model_choices(default: str) -> list[str]:
    """The model menu: the server default first, then the others once each."""
    return [default] + [m for m in MODELS if m != default]


def save_key(svc) -> None:
    """Check the new key with Gemini (one cheap call), then store it encrypted."""
    from ..agent import check_key

    key = (st.session_state.pop("new_key", "") or "").strip()

    def check_and_save() -> None:
        if not key:
            raise ValidationError("Paste your Gemini API key first.")
        check_key(svc.settings, key)
        keys.set_gemini_key(svc.backend, _user_id(), key)

    act(check_and_save, "Your Gemini key works and is saved.")


def remove_key(svc) -> None:
    """Forget the user's Gemini key."""
    act(lambda: keys.remove_gemini_key(svc.backend, _user_id()), "Your Gemini key is removed.")


def save_model(svc) -> None:
    """Store the chosen model (None for the server default)."""
    choice = st.session_state.get("model_choice")
    model = None if choice == svc.settings.model else choice
    act(lambda: accounts.set_model(svc.backend, _user_id(), model), f"DELTA3 now answers with {choice}.")


def send_phone_code(svc) -> None:
    """Text a verification code to the number typed in."""
    act(lambda: phone_verify.send_code(svc, _user_id(), st.session_state.get("phone", "")),
        lambda phone: f"We sent a 6-digit code to {phone}; enter it below.")


def confirm_phone(svc) -> None:
    """Check the code and link the phone."""
    if act(lambda: phone_verify.confirm_code(svc, _user_id(), st.session_state.pop("phone_code", "")),
           lambda phone: f"{phone} is linked: text this service's number to chat by SMS."):
        st.session_state.pop("phone", None)  # the field is for linking another number now


def unlink_phone(svc) -> None:
    """Remove the phone link."""
    def unlink() -> None:
        accounts.unlink_phone(svc.backend, _user_id())
        phone_verify.cancel(svc, _user_id())

    act(unlink, "Your phone number is unlinked.")


def change_password(svc) -> None:
    """Change the password: other devices are logged out, this one stays in."""
    old = st.session_state.pop("pw_old", "")
    act(lambda: webauth.change_password(svc, old, webauth.take_new_password("pw_new", "pw_repeat")),
        "Password changed. Every other device has been logged out.")


# ---------------------------------------------------------------- API tokens

NEW_TOKEN = "new_api_token"  # the secret of a token just made: shown on the next run, then dropped
TOKEN_EXPIRY = {"30 days": 30, "90 days": 90, "1 year": 365, "Never": None}


def create_token(svc) -> None:
    """Make a personal access token from the form; keep its secret for one showing."""
    name = st.session_state.pop("token_name", "")
    days = TOKEN_EXPIRY.get(st.session_state.get("token_expiry", "90 days"), 90)

    def make() -> str:
        _record, secret = pat.create_token(svc.backend, _user_id(), name, days)
        st.session_state[NEW_TOKEN] = secret
        return name.strip()

    act(make, lambda made: f"Token “{made}” created. Copy it now: it is not shown again.")


def revoke_token(svc, token_id: str, name: str) -> None:
    """Revoke one of the user's tokens."""
    act(lambda: pat.revoke_token(svc.backend, _user_id(), token_id), f"Token “{name}” is revoked.")


def date_text(timestamp: float) -> str:
    """A date for people, e.g. 30 Nov 2026."""
    import time

    return time.strftime("%d %b %Y", time.gmtime(timestamp))
