"""Settings page callbacks: each reads its form fields, calls the core, leaves one sentence to show."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from .. import accounts, keys
from ..accounts import phone_verify
from ..accounts import tokens as pat
from ..agent import models
from ..errors import Delta3Error, ValidationError
from . import auth as webauth
from .auth import act

if TYPE_CHECKING:
    from delta3_core.services import Services

THINKING_CHOICES = ("default", *models.THINKING_LEVELS)
THINKING_LABELS = {"default": "The model's own default", "minimal": "Minimal (fastest)", "low": "Low",
                   "medium": "Medium", "high": "High (most careful, slowest)"}


def _user_id() -> str:
    return webauth.require_user().user_id


def model_list(services: Services, user_id: str) -> models.ModelList:
    """The models this user's key can use (the built-in list, with a warning shown, if the key is unreadable)."""
    try:
        return models.list_models(services, user_id)
    except Delta3Error as error:
        st.warning(str(error))
        return models.list_models_without_key(services.settings)


def model_label(available: models.ModelList, name: str) -> str:
    """'Gemini 3.8 Flash · gemini-3.8-flash (default)' for the menu."""
    display = available.display(name)
    label = name if display == name else f"{display} · {name}"
    return label + (" (default)" if name == available.default else "")


def save_key(services: Services) -> None:
    """Check the new key with Gemini (one cheap call), then store it encrypted."""
    from ..agent import check_key

    key = (st.session_state.pop("new_key", "") or "").strip()

    def check_and_save() -> None:
        if not key:
            raise ValidationError("Paste your Gemini API key first.")
        check_key(services.settings, key)
        keys.set_gemini_key(services.backend, _user_id(), key)

    act(check_and_save, "Your Gemini key works and is saved.")


def remove_key(services: Services) -> None:
    """Forget the user's Gemini key."""
    act(lambda: keys.remove_gemini_key(services.backend, _user_id()), "Your Gemini key is removed.")


def save_model(services: Services) -> None:
    """Store the chosen model (refused unless the key can use it) and thinking level."""
    choice = st.session_state.get("model_choice")
    thinking = st.session_state.get("thinking_choice")

    def save() -> None:
        models.choose_model(services, _user_id(), choice)
        if thinking is not None:  # the menu is only there for models that think
            models.choose_thinking(services, _user_id(), thinking)

    act(save, f"DELTA3 now answers with {choice}.")


def send_phone_code(services: Services) -> None:
    """Text a verification code to the number typed in."""
    act(lambda: phone_verify.send_code(services, _user_id(), st.session_state.get("phone", "")),
        lambda phone: f"We sent a 6-digit code to {phone}; enter it below.")


def confirm_phone(services: Services) -> None:
    """Check the code and link the phone."""
    if act(lambda: phone_verify.confirm_code(services, _user_id(), st.session_state.pop("phone_code", "")),
           lambda phone: f"{phone} is linked: text this service's number to chat by SMS."):
        st.session_state.pop("phone", None)  # the field is for linking another number now


def unlink_phone(services: Services) -> None:
    """Remove the phone link."""
    def unlink() -> None:
        accounts.unlink_phone(services.backend, _user_id())
        phone_verify.cancel(services, _user_id())

    act(unlink, "Your phone number is unlinked.")


def change_password(services: Services) -> None:
    """Change the password: other devices are logged out, this one stays in."""
    old = st.session_state.pop("pw_old", "")
    act(lambda: webauth.change_password(services, old, webauth.take_new_password("pw_new", "pw_repeat")),
        "Password changed. Every other device has been logged out.")


# ---------------------------------------------------------------- API tokens

NEW_TOKEN = "new_api_token"  # the secret of a token just made: shown on the next run, then dropped
TOKEN_EXPIRY = {"30 days": 30, "90 days": 90, "1 year": 365, "Never": None}


def create_token(services: Services) -> None:
    """Make a personal access token from the form; keep its secret for one showing."""
    name = st.session_state.pop("token_name", "")
    days = TOKEN_EXPIRY.get(st.session_state.get("token_expiry", "90 days"), 90)

    def make() -> str:
        _record, secret = pat.create_token(services.backend, _user_id(), name, days)
        st.session_state[NEW_TOKEN] = secret
        return name.strip()

    act(make, lambda made: f"Token “{made}” created. Copy it now: it is not shown again.")


def revoke_token(services: Services, token_id: str, name: str) -> None:
    """Revoke one of the user's tokens."""
    act(lambda: pat.revoke_token(services.backend, _user_id(), token_id), f"Token “{name}” is revoked.")


def date_text(timestamp: float) -> str:
    """A date for people, e.g. 30 Nov 2026."""
    import time

    return time.strftime("%d %b %Y", time.gmtime(timestamp))
