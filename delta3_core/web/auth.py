"""Web login glue: delta3_core accounts behind Streamlit forms, with a revocable 7-day session cookie.

streamlit-authenticator 0.4.2 keeps users in a YAML/dict credential store and puts only the username
in a stateless JWT cookie, so a copied cookie keeps working after logout until it expires. Here the
cookie carries our server-side session token (signed with a key derived from DELTA3_SECRET_KEY), and
every page load resolves it against the session store, so logout, "log out everywhere" and a password
change end it for good.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import jwt
import streamlit as st
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .. import accounts
from ..config import Settings, check_secret_key, load_settings
from ..errors import Delta3Error, ValidationError
from ..storage.base import UserRecord

if TYPE_CHECKING:
    from delta3_core.services import Services

COOKIE_NAME = "delta3_session"
COOKIE_MAX_AGE_S = accounts.SESSION_TTL_S  # 7 days, the same as the server-side session
_TOKEN = "_delta3_token"
_USER = "_delta3_user"
_COOKIE_OPS = "_delta3_cookie_ops"
_SIGNED_OUT = "_delta3_signed_out"
FLASH = "_delta3_flash"
T = TypeVar("T")


# ---------------------------------------------------------------- cookie value (pure, testable)

def cookie_key(settings: Settings) -> bytes:
    """The cookie signing key: derived from the validated master secret, never a default."""
    secret = check_secret_key(settings.secret_key or "")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"delta3 web session cookie v1")
    return hkdf.derive(secret.encode())


def encode_cookie(settings: Settings, token: str, now: float | None = None) -> str:
    """Sign a session token into the cookie value, expiring with the session."""
    now = time.time() if now is None else now
    return jwt.encode({"sid": token, "exp": int(now + COOKIE_MAX_AGE_S)}, cookie_key(settings), algorithm="HS256")


def decode_cookie(settings: Settings, value: str | None) -> str | None:
    """The session token inside a cookie value, or None if it is missing, forged or expired."""
    if not value:
        return None
    try:
        claims = jwt.decode(value, cookie_key(settings), algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.PyJWTError:
        return None
    token = claims.get("sid")
    return token if isinstance(token, str) and token else None


# ---------------------------------------------------------------- services (shared, not per user)

@st.cache_resource(show_spinner=False)
def _shared_services(fingerprint: str, _settings: Settings):
    from ..services import build_services

    return build_services(_settings)


def services():
    """The process-wide Services (store connection, executor); stops the page with a clear error."""
    try:
        settings = load_settings(secrets=st.secrets)
        # Keyed on the settings so a changed environment (tests, a new secrets file) builds fresh ones.
        fingerprint = hashlib.sha256(repr(sorted(vars(settings).items())).encode()).hexdigest()
        return _shared_services(fingerprint, settings)
    except Delta3Error as error:
        st.error(str(error))
        st.stop()


# ---------------------------------------------------------------- who is logged in

def current_user(services: Services) -> UserRecord | None:
    """Resolve this browser session's user from session state or the cookie, checked server-side."""
    token = st.session_state.get(_TOKEN)
    from_cookie = False
    if token is None and not st.session_state.get(_SIGNED_OUT):
        token = decode_cookie(services.settings, _read_cookie())
        from_cookie = token is not None
    user = accounts.resolve_session(services.backend, token) if token else None
    if user is None:
        if token is not None:  # expired or revoked elsewhere: forget it here too
            _forget()
            _queue_cookie(None)
            if not from_cookie:
                st.session_state[FLASH] = ("info", "Your session has ended; please log in again.")
        return None
    st.session_state[_TOKEN] = token
    st.session_state[_USER] = user
    return user


def _read_cookie() -> str | None:
    # Read from the request that opened this browser session (st.context), never from a shared cache.
    return st.context.cookies.get(COOKIE_NAME)


def require_user() -> UserRecord:
    """The logged-in user for a page; the router only registers pages for logged-in users."""
    user = st.session_state.get(_USER)
    if user is None:
        st.stop()
    return user


def refresh_user(services: Services) -> UserRecord:
    """Reload the logged-in user after a change (key, model, phone)."""
    user = services.backend.records.get_user(require_user().user_id)
    st.session_state[_USER] = user
    return user


def _client_source() -> str | None:
    try:
        address = st.context.ip_address
    except Exception:  # no client (tests): per-email throttling still applies
        return None
    return address if isinstance(address, str) and address else None


def _start_session(services: Services, user_id: str, token: str | None = None) -> None:
    # Also used by web/oidc.py when a provider sign-in opens a session.
    token = token or accounts.create_session(services.backend, user_id)
    st.session_state[_TOKEN] = token
    st.session_state.pop(_SIGNED_OUT, None)
    _queue_cookie(encode_cookie(services.settings, token))


def _forget() -> None:
    for key in (_TOKEN, _USER):
        st.session_state.pop(key, None)
    st.session_state[_SIGNED_OUT] = True


def _flash_error(error: Delta3Error) -> None:
    st.session_state[FLASH] = ("error", str(error))


def act(action: Callable[[], T], done: str | Callable[[T], str]) -> bool:
    """Run a form action; leave its success sentence (or the error's) for the next run; True if it worked."""
    try:
        result = action()
    except Delta3Error as error:
        _flash_error(error)
        return False
    st.session_state[FLASH] = ("success", done(result) if callable(done) else done)
    return True


def take_new_password(field: str, repeat_field: str) -> str:
    """Take a new password and its repeat out of the form state; ValidationError if they differ."""
    password, repeat = st.session_state.pop(field, ""), st.session_state.pop(repeat_field, "")
    if password != repeat:
        raise ValidationError("The two passwords do not match.")
    return password


# ---------------------------------------------------------------- form callbacks (run before the rerun)

def sign_in(services: Services) -> None:
    """Login form callback: check the credentials and start a session."""
    email = st.session_state.get("login_email", "")
    password = st.session_state.pop("login_password", "")
    try:
        user = accounts.authenticate(services.backend, email, password, source=_client_source())
    except Delta3Error as error:
        _flash_error(error)
        return
    _start_session(services, user.user_id)


def sign_up(services: Services) -> None:
    """Registration form callback: create the account and log it in."""
    email = st.session_state.get("register_email", "")

    def register() -> None:
        user = accounts.register(services.backend, email, take_new_password("register_password", "register_repeat"))
        _start_session(services, user.user_id)

    act(register, "Your account is ready.")


def provider_configured() -> bool:
    """True when secrets hold an [auth] section, so st.login (Sign in with Google) is set up."""
    try:
        return "auth" in st.secrets
    except Exception:  # st.secrets raises when there is no secrets file at all
        return False


def provider_identity() -> dict | None:
    """The claims of the provider identity Streamlit holds for this browser (after st.login), or None."""
    if not provider_configured() or not st.user.is_logged_in:
        return None
    return st.user.to_dict()


def _end_provider_identity() -> bool:
    # Our session is what logs a user in; the provider identity cookie goes too, so nothing mistakes it for one.
    # True if the browser is now on its way to Streamlit's logout address (which then opens the app afresh).
    if provider_identity() is None:
        return False
    st.logout()
    return True


def sign_out(services: Services) -> bool:
    """End this session on the server and drop the cookie; True if the browser goes to st.logout's address."""
    accounts.logout(services.backend, st.session_state.get(_TOKEN))
    leaving = _end_provider_identity()
    _forget()
    _queue_cookie(None)
    st.session_state[FLASH] = ("success", "You are logged out.")
    return leaving


def sign_out_everywhere(services: Services) -> None:
    """Revoke every session of the user, on every device."""
    accounts.logout_everywhere(services.backend, require_user().user_id)
    _end_provider_identity()
    _forget()
    _queue_cookie(None)
    st.session_state[FLASH] = ("success", "You are logged out on every device.")


def change_password(services: Services, old: str, new: str) -> None:
    """Change the password; other sessions end, this one continues with a fresh token."""
    token = accounts.change_password(services.backend, require_user().user_id, old, new)
    _start_session(services, require_user().user_id, token)


@contextmanager
def auth_panel() -> Iterator[None]:
    """The narrow, centred column the login and registration forms sit in, under the app's name."""
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("DELTA3", anchor=False)
        st.caption("Your AI coding assistant: it writes and runs code for you, on the web and by SMS.")
        show_flash()
        yield


def sign_out_page() -> None:
    """The 'Log out' navigation entry."""
    # No rerun on the way to st.logout's address: a new run could drop the message that sends the browser there.
    if not sign_out(services()):
        st.rerun()


# ---------------------------------------------------------------- cookie writes in the browser

def _queue_cookie(value: str | None) -> None:
    st.session_state.setdefault(_COOKIE_OPS, []).append(value)


def render_cookie_ops() -> None:
    """Write queued cookie changes in the browser (Streamlit cannot set response headers)."""
    ops = st.session_state.pop(_COOKIE_OPS, [])
    # The same two elements on every run, cookie change or not: if they came and went, every element of
    # the page below would move, and while the next answer streams the browser shows the page twice.
    st.html("<style>div[data-testid='stElementContainer']:has(span.delta3-cookie){display:none}</style>")
    script = ""
    if ops:
        value = ops[-1]
        max_age = COOKIE_MAX_AGE_S if value else 0
        cookie = f"{COOKIE_NAME}={value or ''}; Max-Age={max_age}; Path=/; SameSite=Strict"
        # The nonce makes each write a new element, so the browser runs it even if the text repeats.
        script = (f"<script>/* {secrets.token_hex(4)} */ document.cookie = {json.dumps(cookie)} + "
                  "(location.protocol === 'https:' ? '; Secure' : '');</script>")
    st.html(f"<span class='delta3-cookie' hidden></span>{script}", unsafe_allow_javascript=True)


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>#|~$])")


def plain(text: str) -> str:
    """Escape Markdown, so a sentence naming __init__.py or a*b shows exactly as written."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


def show_flash() -> None:
    """Show (once) the message left by the last form callback: errors in place, successes as a toast."""
    # Always the same one slot, message or not: if a message appeared and vanished in place, everything
    # below would shift and Streamlit would redraw it, closing an open popover (e.g. Upload mid-choice).
    slot = st.container()
    flash = st.session_state.pop(FLASH, None)
    if flash:
        kind, text = flash
        if kind == "success":  # a toast is seen wherever the user scrolled to (e.g. Save under a long file)
            st.toast(plain(text), icon=":material/check_circle:")
        else:
            (slot.error if kind == "error" else slot.info)(plain(text))
