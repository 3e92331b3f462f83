"""Emails and passwords: normalising addresses, the password policy, bcrypt hashing."""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata

import bcrypt

from ..errors import ValidationError

BCRYPT_ROUNDS = 12  # ~0.25 s per hash on a small server; tests lower it
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_BYTES = 128
_HASH_PREFIX = "bcrypt-sha256$"

_DOMAIN_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL_RE = re.compile(r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@" + _DOMAIN_LABEL + r"(?:\." + _DOMAIN_LABEL + r")+$")


def normalize_email(s: str) -> str:
    """Return the email trimmed, NFC-normalised and lowercased; ValidationError if it is not an address.

    International addresses work: the domain is checked in its IDNA (xn--) form and kept in Unicode,
    so 'josé@bücher.de' typed composed, decomposed or as 'josé@xn--bcher-kva.de' is one account.
    """
    email = unicodedata.normalize("NFC", s).strip().lower() if isinstance(s, str) else ""
    if not email:
        raise ValidationError("Enter an email address.")
    local, _, domain = email.rpartition("@")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
        domain = ascii_domain.encode("ascii").decode("idna")  # one spelling for 'xn--' and Unicode forms
    except UnicodeError:
        raise ValidationError("That is not a valid email address.") from None
    # A non-ASCII letter, digit or mark in the local part is as good as an ASCII one (RFC 6531).
    ascii_local = "".join("a" if not c.isascii() and unicodedata.category(c)[0] in "LMN" else c for c in local)
    ascii_email = f"{ascii_local}@{ascii_domain}"
    if len(ascii_email) > 254 or len(local.encode()) > 64 or not _EMAIL_RE.match(ascii_email):
        raise ValidationError("That is not a valid email address.")
    return f"{local}@{domain}"


def check_password_policy(password: str, email: str = "") -> None:
    """Raise ValidationError (saying what to change) if `password` is too weak or too long."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise ValidationError(f"Use a password of at least {MIN_PASSWORD_CHARS} characters.")
    if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        raise ValidationError(f"Use a password of at most {MAX_PASSWORD_BYTES} bytes.")
    classes = sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                   any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))
    if classes < 2:
        raise ValidationError("Mix at least two kinds of characters (lowercase, uppercase, digits, symbols).")
    local = email.partition("@")[0]
    if len(local) >= 3 and local in password.lower():
        raise ValidationError("Your password must not contain your email name.")


def _prehash(password: str) -> bytes:
    # bcrypt reads only 72 bytes (and bcrypt>=5 refuses more), so hash first; base64 keeps NUL bytes out.
    return base64.b64encode(hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest())


def hash_password(password: str) -> str:
    """Return a storable bcrypt hash of `password`."""
    return _HASH_PREFIX + bcrypt.hashpw(_prehash(password), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def verify_password(password: str, stored: str) -> bool:
    """True if `password` matches the stored hash."""
    if not isinstance(password, str) or not stored.startswith(_HASH_PREFIX):
        return False
    try:
        return bcrypt.checkpw(_prehash(password), stored[len(_HASH_PREFIX):].encode())
    except ValueError:  # a damaged hash must read as "wrong password", not crash the login page
        return False


_dummy_hash: str | None = None


def burn_time(password: str) -> None:
    """Spend about as long as a real check, so unknown emails cannot be told apart by timing."""
    global _dummy_hash
    if _dummy_hash is None or not _dummy_hash[len(_HASH_PREFIX):].startswith(f"$2b${BCRYPT_ROUNDS:02d}$"):
        _dummy_hash = hash_password("not-a-real-password-0")
    verify_password(password if isinstance(password, str) else "", _dummy_hash)
