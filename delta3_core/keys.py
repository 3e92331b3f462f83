"""Per-user Gemini API keys, encrypted at rest and bound to the user id."""

from __future__ import annotations

import logging

from .errors import Delta3Error, KeyDecryptError, NotFoundError, ValidationError
from .storage.base import Backend, UserRecord

log = logging.getLogger(__name__)

MAX_KEY_CHARS = 200
_UNREADABLE = "Your saved Gemini key could not be read; please enter your key again."


def clean_key(key: str) -> str:
    """The key trimmed; ValidationError (never quoting it) if it cannot be a Gemini API key."""
    # Messages here must never quote the key: they reach logs and screens.
    if not isinstance(key, str) or not key.strip():
        raise ValidationError("Enter a Gemini API key.")
    key = key.strip()
    if len(key) > MAX_KEY_CHARS:
        raise ValidationError("That is too long to be a Gemini API key.")
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise ValidationError("A Gemini API key has only letters, digits and simple symbols, with no spaces.")
    return key


def set_gemini_key(backend: Backend, user_id: str, key: str) -> None:
    """Encrypt and save the user's Gemini key (replacing any earlier one)."""
    key = clean_key(key)
    if backend.records.get_user(user_id) is None:
        raise NotFoundError("That account does not exist.")
    backend.records.update_user(user_id, gemini_key_ct=backend.cipher.encrypt(user_id, key))


def get_gemini_key(backend: Backend, user_id: str) -> str | None:
    """The user's Gemini key, or None if none is saved; KeyDecryptError if it cannot be read."""
    return gemini_key_of(backend, backend.records.get_user(user_id))


def gemini_key_of(backend: Backend, user: UserRecord | None) -> str | None:
    """Like get_gemini_key, for a user record already loaded (saves a store read per chat turn)."""
    if user is None or not user.gemini_key_ct:
        return None
    user_id = user.user_id
    try:
        return backend.cipher.decrypt(user_id, user.gemini_key_ct)
    except KeyDecryptError:
        log.warning("stored Gemini key of user %s did not decrypt", user_id)
        raise KeyDecryptError(_UNREADABLE) from None
    except Delta3Error:  # StorageError (KMS down...) is not the user's fault: keep it as it is
        raise
    except Exception as exc:  # a cipher that chokes on damaged text must not leak details
        log.warning("stored Gemini key of user %s is damaged (%s)", user_id, type(exc).__name__)
        raise KeyDecryptError(_UNREADABLE) from None


def remove_gemini_key(backend: Backend, user_id: str) -> None:
    """Forget the user's Gemini key."""
    backend.records.update_user(user_id, gemini_key_ct=None)


def has_gemini_key(user: UserRecord | None) -> bool:
    """True if the user has saved a key (without decrypting it)."""
    return bool(user is not None and user.gemini_key_ct)


def mask_key(key: str | None) -> str:
    """A form of the key safe to show: its first and last four characters, e.g. 'AIza…XY12'."""
    if not key:
        return ""
    if len(key) < 16:  # too short to reveal any part without giving much of it away
        return "…" * 3
    return f"{key[:4]}…{key[-4:]}"
