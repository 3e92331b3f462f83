"""Settings page callbacks: each reads its form fields, calls the core, leaves one sentence to show."""

from __future__ import annotations

import streamlit as st

from . import accounts, keys, phone_verify, webauth
from .errors import Delta3Error, ValidationError

# Offered in the model menu; DELTA3_MODEL (the server default) is always first.
MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite", "gemini-2.0-flash")


def _done(message: str) -> None:
    st.session_state[webauth.FLASH] = ("success", message)


def _failed(error: Delta3Error) -> None:
    st.session_state[webauth.FLASH] = ("error", str(error))


def model_choices(default: str) -> list[str]:
    """The model menu: the server default first, then the others once each."""
    return [default] + [m for m in MODELS if m != default]


def save_key(svc) -> None:
    """Check the new key with Gemini (one cheap call), then store it encrypted."""
    from .agent import check_key

    key = (st.session_state.pop("new_key", "") or "").strip()
    try:
        if not key:
            raise ValidationError("Paste your Gemini API key first.")
        check_key(svc.settings, key)
        keys.set_gemini_key(svc.backend, webauth.require_user().user_id, key)
    except Delta3Error as error:
        _failed(error)
        return
    _done("Your Gemini key works and is saved.")


def remove_key(svc) -> None:
    """Forget the user's Gemini key."""
    keys.remove_gemini_key(svc.backend, webauth.require_user().user_id)
    _done("Your Gemini key is removed.")


def save_model(svc) -> None:
    """Store the chosen model ('' for the server default)."""
    choice = st.session_state.get("model_choice")
    model = None if choice == svc.settings.model else choice
    try:
        accounts.set_model(svc.backend, webauth.require_user().user_id, model)
    except Delta3Error as error:
        _failed(error)
        return
    _done(f"DELTA3 now answers with {choice}.")


def send_phone_code(svc) -> None:
    """Text a verification code to the number typed in."""
    try:
        phone = phone_verify.send_code(svc, webauth.require_user().user_id, st.session_state.get("phone", ""))
    except Delta3Error as error:
        _failed(error)
        return
    _done(f"We sent a 6-digit code to {phone}; enter it below.")


def confirm_phone(svc) -> None:
    """Check the code and link the phone."""
    try:
        phone = phone_verify.confirm_code(svc, webauth.require_user().user_id, st.session_state.pop("phone_code", ""))
    except Delta3Error as error:
        _failed(error)
        return
    _done(f"{phone} is linked: text this service's number to chat by SMS.")


def link_phone_directly(svc) -> None:
    """Link without a code: only when this server cannot send SMS (so the link cannot be abused by SMS)."""
    try:
        phone = accounts.link_phone(svc.backend, webauth.require_user().user_id, st.session_state.get("phone", ""))
    except Delta3Error as error:
        _failed(error)
        return
    _done(f"{phone} is linked.")


def unlink_phone(svc) -> None:
    """Remove the phone link."""
    accounts.unlink_phone(svc.backend, webauth.require_user().user_id)
    phone_verify.cancel(svc, webauth.require_user().user_id)
    _done("Your phone number is unlinked.")


def change_password(svc) -> None:
    """Change the password: other devices are logged out, this one stays in."""
    old = st.session_state.pop("pw_old", "")
    new = st.session_state.pop("pw_new", "")
    repeat = st.session_state.pop("pw_repeat", "")
    try:
        if new != repeat:
            raise ValidationError("The two new passwords do not match.")
        webauth.change_password(svc, old, new)
    except Delta3Error as error:
        _failed(error)
        return
    _done("Password changed. Every other device has been logged out.")
