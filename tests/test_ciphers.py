"""Local key cipher: AES-GCM bound to the user id, and rotation of the master secret."""

from __future__ import annotations

import time

import pytest

from delta3_core.config import load_settings
from delta3_core.errors import KeyDecryptError
from delta3_core.storage import open_backend
from delta3_core.storage.base import UserRecord
from delta3_core.storage.ciphers import LocalKeyCipher, rotate_local_keys
from tests.fixtures.storage import local_settings

OLD_SECRET = "old-master-secret-0123456789-abcdefghijklmnop"
NEW_SECRET = "new-master-secret-0123456789-abcdefghijklmnop"


def test_same_key_encrypts_differently_each_time():
    cipher = LocalKeyCipher(OLD_SECRET)
    first, second = cipher.encrypt("u1", "AIza-key"), cipher.encrypt("u1", "AIza-key")
    assert first != second and first.startswith("d3v1.")
    assert cipher.decrypt("u1", first) == cipher.decrypt("u1", second) == "AIza-key"


def test_another_master_secret_cannot_decrypt():
    ciphertext = LocalKeyCipher(OLD_SECRET).encrypt("u1", "AIza-key")
    with pytest.raises(KeyDecryptError, match="master key"):
        LocalKeyCipher(NEW_SECRET).decrypt("u1", ciphertext)


def test_old_secret_still_decrypts_after_rotation_starts():
    ciphertext = LocalKeyCipher(OLD_SECRET).encrypt("u1", "AIza-key")
    rotated = LocalKeyCipher(NEW_SECRET, old_secret_keys=[OLD_SECRET])
    assert rotated.decrypt("u1", ciphertext) == "AIza-key"
    assert not rotated.is_current(ciphertext)
    assert rotated.is_current(rotated.encrypt("u1", "AIza-key"))


def test_key_id_swapped_in_from_another_master_fails():
    old, new = LocalKeyCipher(OLD_SECRET), LocalKeyCipher(NEW_SECRET, [OLD_SECRET])
    _, _, body = old.encrypt("u1", "AIza-key").split(".")
    forged = f"d3v1.{new.current_id}.{body}"  # claims the new key: the tag check must refuse it
    with pytest.raises(KeyDecryptError):
        new.decrypt("u1", forged)


def _store_keys(backend, count=3):
    for i in range(count):
        uid = f"u{i}"
        backend.records.create_user(UserRecord(uid, f"user{i}@example.com", "$2b$h", time.time()))
        backend.records.update_user(uid, gemini_key_ct=backend.cipher.encrypt(uid, f"AIza-key-{i}"))
    backend.records.create_user(UserRecord("nokey", "nokey@example.com", "$2b$h", time.time()))


def test_rotate_local_keys_moves_every_key_to_the_new_secret(tmp_path):
    before = open_backend(local_settings(tmp_path, secret_key=OLD_SECRET))
    _store_keys(before)
    before.records.close()

    during = open_backend(local_settings(tmp_path, secret_key=NEW_SECRET, old_secret_keys=(OLD_SECRET,)))
    assert rotate_local_keys(during) == {"rotated": 3, "current": 0, "unreadable": 0}
    assert rotate_local_keys(during) == {"rotated": 0, "current": 3, "unreadable": 0}  # safe to run again
    during.records.close()

    after = open_backend(local_settings(tmp_path, secret_key=NEW_SECRET))  # old secret removed
    for i in range(3):
        user = after.records.get_user(f"u{i}")
        assert after.cipher.decrypt(user.user_id, user.gemini_key_ct) == f"AIza-key-{i}"


def test_rotation_leaves_unreadable_keys_untouched(tmp_path):
    before = open_backend(local_settings(tmp_path, secret_key=OLD_SECRET))
    _store_keys(before, count=1)
    before.records.update_user("u0", gemini_key_ct="d3v1.000000000000.garbage")
    report = rotate_local_keys(open_backend(local_settings(tmp_path, secret_key=NEW_SECRET)))
    assert report == {"rotated": 0, "current": 0, "unreadable": 1}
    assert before.records.get_user("u0").gemini_key_ct == "d3v1.000000000000.garbage"


def test_old_secret_keys_setting_is_parsed_and_hidden(tmp_path):
    settings = load_settings(environ={"DELTA3_DATA_DIR": str(tmp_path), "DELTA3_SECRET_KEY": NEW_SECRET,
                                      "DELTA3_OLD_SECRET_KEYS": f" {OLD_SECRET} , ,other-old-secret"})
    assert settings.old_secret_keys == (OLD_SECRET, "other-old-secret")
    assert OLD_SECRET not in repr(settings)


def test_rotate_command_rotates_the_configured_data_dir(tmp_path, monkeypatch, capsys):
    from delta3_core.__main__ import main

    before = open_backend(local_settings(tmp_path, secret_key=OLD_SECRET))
    _store_keys(before, count=2)
    for name, value in (("DELTA3_DATA_DIR", str(tmp_path)), ("DELTA3_SECRET_KEY", NEW_SECRET),
                        ("DELTA3_OLD_SECRET_KEYS", OLD_SECRET), ("DELTA3_BACKEND", "local")):
        monkeypatch.setenv(name, value)
    assert main(["rotate-keys"]) == 0
    assert "rotated 2" in capsys.readouterr().out
    after = open_backend(local_settings(tmp_path, secret_key=NEW_SECRET))
    user = after.records.get_user("u1")
    assert after.cipher.decrypt("u1", user.gemini_key_ct) == "AIza-key-1"
