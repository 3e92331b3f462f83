"""Gemini keys: encrypted per user, bound to the user id, never shown or logged."""

from __future__ import annotations

import logging

import pytest

from delta3_core import accounts, keys
from delta3_core.errors import KeyDecryptError, ValidationError

KEY = "AIzaSyD-example_key_0123456789abcdXY12"


@pytest.fixture
def ada(backend):
    return accounts.register(backend, "ada@example.com", "correct horse 42")


@pytest.fixture
def grace(backend):
    return accounts.register(backend, "grace@example.com", "correct horse 43")


def test_key_roundtrip_and_the_store_never_holds_it_in_clear(backend, ada, caplog):
    caplog.set_level(logging.DEBUG)
    keys.set_gemini_key(backend, ada.user_id, f"  {KEY}\n")
    stored = backend.records.get_user(ada.user_id)
    assert keys.has_gemini_key(stored)
    assert KEY not in stored.gemini_key_ct and KEY not in repr(stored)
    assert keys.get_gemini_key(backend, ada.user_id) == KEY
    assert KEY not in caplog.text


def test_no_key_saved(backend, ada):
    assert keys.get_gemini_key(backend, ada.user_id) is None
    assert not keys.has_gemini_key(backend.records.get_user(ada.user_id))
    assert not keys.has_gemini_key(None)


def test_replace_and_remove_key(backend, ada):
    keys.set_gemini_key(backend, ada.user_id, KEY)
    keys.set_gemini_key(backend, ada.user_id, "AIzaSecondKey0000000000000000000000000")
    assert keys.get_gemini_key(backend, ada.user_id) == "AIzaSecondKey0000000000000000000000000"
    keys.remove_gemini_key(backend, ada.user_id)
    assert keys.get_gemini_key(backend, ada.user_id) is None


def test_a_ciphertext_copied_to_another_user_does_not_decrypt(backend, ada, grace, caplog):
    keys.set_gemini_key(backend, ada.user_id, KEY)
    stolen = backend.records.get_user(ada.user_id).gemini_key_ct
    backend.records.update_user(grace.user_id, gemini_key_ct=stolen)
    with pytest.raises(KeyDecryptError) as error:
        keys.get_gemini_key(backend, grace.user_id)
    assert "please enter your key again" in str(error.value)
    assert KEY not in str(error.value) and KEY not in caplog.text
    assert keys.get_gemini_key(backend, ada.user_id) == KEY  # the owner still has it


@pytest.mark.parametrize("damage", [
    lambda ct: ct[:-6] + ("AAAAAA" if not ct.endswith("AAAAAA") else "BBBBBB"),
    lambda ct: ct[: len(ct) // 2],
    lambda ct: "not a ciphertext at all",
    lambda ct: "%%%%",
])
def test_corrupted_ciphertext_asks_for_the_key_again(backend, ada, damage):
    keys.set_gemini_key(backend, ada.user_id, KEY)
    ct = backend.records.get_user(ada.user_id).gemini_key_ct
    backend.records.update_user(ada.user_id, gemini_key_ct=damage(ct))
    with pytest.raises(KeyDecryptError, match="please enter your key again"):
        keys.get_gemini_key(backend, ada.user_id)
    keys.set_gemini_key(backend, ada.user_id, KEY)  # and entering it again fixes it
    assert keys.get_gemini_key(backend, ada.user_id) == KEY


@pytest.mark.parametrize(("key", "why"), [
    ("", "Enter a Gemini API key"),
    ("   \n", "Enter a Gemini API key"),
    ("AIza" + "x" * 300, "too long"),
    ("AIza key with spaces", "no spaces"),
    ("AIzaSyé0123456789", "letters, digits"),
    ("AIza\x00abc0123456789", "letters, digits"),
])
def test_bad_keys_are_refused_without_quoting_them(backend, ada, key, why):
    keys.set_gemini_key(backend, ada.user_id, KEY)
    with pytest.raises(ValidationError, match=why) as error:
        keys.set_gemini_key(backend, ada.user_id, key)
    if key.strip():
        assert key.strip() not in str(error.value)
    assert keys.get_gemini_key(backend, ada.user_id) == KEY  # the good key is kept


def test_mask_key_shows_only_the_ends():
    assert keys.mask_key(KEY) == "AIza…XY12"
    assert keys.mask_key("short-key") == "………"
    assert keys.mask_key(None) == ""
