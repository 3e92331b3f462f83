"""Key ciphers: AES-GCM under the local master secret, or KMS; both bound to the user id.

Local ciphertext format: ``d3v1.<key id>.<base64url(nonce || ciphertext+tag)>``. The key id is a
short fingerprint of the derived key, so after a master-secret rotation the cipher knows which of
the current or old secrets (DELTA3_OLD_SECRET_KEYS) to use, and `rotate_local_keys` re-encrypts
every stored key under the current one. AWS format: ``kms1.<base64url(KMS CiphertextBlob)>``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import KeyDecryptError, StorageError
from .codec import aws_client

if TYPE_CHECKING:
    from delta3_core.storage.base import Backend

LOCAL_PREFIX = "d3v1"
KMS_PREFIX = "kms1"
_HKDF_SALT = b"delta3/key-cipher/v1"
_HKDF_INFO = b"delta3 gemini api key encryption"
_NONCE_BYTES = 12
_DAMAGED = "The stored Gemini key is damaged or belongs to another account; please enter it again."
_OLD_MASTER = "The stored Gemini key was encrypted with a master key this server no longer has; please enter it again."


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise KeyDecryptError(_DAMAGED) from None


def _aad(user_id: str) -> bytes:
    return b"delta3-user:" + user_id.encode()


def derive_key(secret: str) -> bytes:
    """The 256-bit AES key derived from a master secret by HKDF-SHA256."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(secret.encode())


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"delta3-key-id:" + key).hexdigest()[:12]


class LocalKeyCipher:
    """AES-GCM with a key derived from the master secret; associated data = user id."""

    def __init__(self, secret_key: str, old_secret_keys: Iterable[str] = ()):
        current = derive_key(secret_key)
        self.current_id = _key_id(current)
        self._keys = {self.current_id: AESGCM(current)}
        for old in old_secret_keys:
            key = derive_key(old)
            self._keys.setdefault(_key_id(key), AESGCM(key))

    def encrypt(self, user_id: str, plaintext: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self.current_id].encrypt(nonce, plaintext.encode(), _aad(user_id))
        return f"{LOCAL_PREFIX}.{self.current_id}.{_b64encode(nonce + sealed)}"

    def decrypt(self, user_id: str, ciphertext: str) -> str:
        """Raise KeyDecryptError on a corrupted or foreign ciphertext, or one from an unknown master key."""
        prefix, key_id, body = self._split(ciphertext)
        if key_id not in self._keys:
            raise KeyDecryptError(_OLD_MASTER)
        raw = _b64decode(body)
        try:
            plain = self._keys[key_id].decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(user_id))
            return plain.decode()
        except (InvalidTag, ValueError, UnicodeDecodeError):
            raise KeyDecryptError(_DAMAGED) from None

    def is_current(self, ciphertext: str) -> bool:
        """True if `ciphertext` is already under the current master secret."""
        try:
            return self._split(ciphertext)[1] == self.current_id
        except KeyDecryptError:
            return False

    @staticmethod
    def _split(ciphertext: str) -> tuple[str, str, str]:
        parts = ciphertext.split(".") if isinstance(ciphertext, str) else []
        if len(parts) != 3 or parts[0] != LOCAL_PREFIX:
            raise KeyDecryptError(_DAMAGED)
        return parts[0], parts[1], parts[2]


def rotate_local_keys(backend: Backend) -> dict[str, int]:
    """Re-encrypt every user's stored Gemini key under the current master secret.

    Run with DELTA3_SECRET_KEY set to the new secret and DELTA3_OLD_SECRET_KEYS listing the old
    one(s). Returns counts: rotated, already current, unreadable (left untouched).
    """
    cipher: LocalKeyCipher = backend.cipher
    report = {"rotated": 0, "current": 0, "unreadable": 0}
    for user_id in backend.records.all_user_ids():
        user = backend.records.get_user(user_id)
        if user is None or not user.gemini_key_ct:
            continue
        if cipher.is_current(user.gemini_key_ct):
            report["current"] += 1
            continue
        try:
            plaintext = cipher.decrypt(user_id, user.gemini_key_ct)
        except KeyDecryptError:
            report["unreadable"] += 1
            continue
        backend.records.update_user(user_id, gemini_key_ct=cipher.encrypt(user_id, plaintext))
        report["rotated"] += 1
    return report


class KmsKeyCipher:
    """KMS Encrypt/Decrypt with EncryptionContext={"user_id": ...}."""

    def __init__(self, key_id: str, client: Any = None):
        self.key_id = key_id
        self.client = aws_client("kms", client)

    def encrypt(self, user_id: str, plaintext: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            blob = self.client.encrypt(KeyId=self.key_id, Plaintext=plaintext.encode(),
                                       EncryptionContext={"user_id": user_id})["CiphertextBlob"]
        except (ClientError, BotoCoreError) as exc:
            raise StorageError("The key service (KMS) failed, so the key was not saved; please try again.") from exc
        return f"{KMS_PREFIX}.{_b64encode(blob)}"

    def decrypt(self, user_id: str, ciphertext: str) -> str:
        """Raise KeyDecryptError when KMS rejects the ciphertext or its user id context."""
        from botocore.exceptions import BotoCoreError, ClientError

        prefix, _, body = ciphertext.partition(".") if isinstance(ciphertext, str) else ("", "", "")
        if prefix != KMS_PREFIX or not body:
            raise KeyDecryptError(_DAMAGED)
        try:
            plain = self.client.decrypt(KeyId=self.key_id, CiphertextBlob=_b64decode(body),
                                        EncryptionContext={"user_id": user_id})["Plaintext"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("InvalidCiphertextException", "IncorrectKeyException", "ValidationException"):
                raise KeyDecryptError(_DAMAGED) from None
            raise StorageError("The key service (KMS) failed; please try again.") from exc
        except BotoCoreError as exc:
            raise StorageError("The key service (KMS) could not be reached; please try again.") from exc
        try:
            return plain.decode()
        except UnicodeDecodeError:
            raise KeyDecryptError(_DAMAGED) from None
