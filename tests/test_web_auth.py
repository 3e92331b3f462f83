"""The router and login: the gate, login/registration forms, the revocable session cookie."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from delta3_core import accounts
from delta3_core.config import load_settings
from delta3_core.errors import ConfigError
from delta3_core.web import auth as webauth
from tests.fixtures.storage import TEST_SECRET

LOGGED_IN_PAGES = ["app_pages/chat.py", "app_pages/files.py", "app_pages/settings.py"]


def titles(at) -> list[str]:
    return [t.value for t in at.title]


def cookie_writes(at) -> list[str]:
    """The cookie strings the page's scripts write (the browser test checks they take effect)."""
    return [h.proto.body for h in at.html if webauth.COOKIE_NAME in h.proto.body]


def cookie_token(at, settings) -> str | None:
    body = cookie_writes(at)[-1]
    value = body.split(f"{webauth.COOKIE_NAME}=", 1)[1].split(";", 1)[0]
    return webauth.decode_cookie(settings, value)


def log_in(at, email: str, password: str):
    at.text_input(key="login_email").input(email)
    at.text_input(key="login_password").input(password)
    return at.button(key="FormSubmitter:login-Log in").click().run()


# ---------------------------------------------------------------- cookie value

def test_cookie_round_trips_only_with_the_same_secret(web_env):
    value = webauth.encode_cookie(web_env, "tok-123")
    assert webauth.decode_cookie(web_env, value) == "tok-123"
    other = load_settings(environ={}, data_dir=web_env.data_dir, secret_key="another-secret-" + "x" * 40)
    assert webauth.decode_cookie(other, value) is None
    assert webauth.decode_cookie(web_env, value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]) is None
    assert webauth.decode_cookie(web_env, "not-a-jwt") is None
    assert webauth.decode_cookie(web_env, None) is None


def test_cookie_expires_after_seven_days(web_env):
    issued = time.time() - webauth.COOKIE_MAX_AGE_S - 5
    assert webauth.COOKIE_MAX_AGE_S == 7 * 24 * 3600
    assert webauth.decode_cookie(web_env, webauth.encode_cookie(web_env, "tok", now=issued)) is None


@pytest.mark.parametrize("secret", ["changeme", "short-but-not-default"])
def test_cookie_key_refuses_default_or_short_secrets(web_env, secret):
    from dataclasses import replace

    with pytest.raises(ConfigError):
        webauth.cookie_key(replace(web_env, secret_key=secret))
    assert len(webauth.cookie_key(web_env)) == 32 and TEST_SECRET.encode() not in webauth.cookie_key(web_env)


# ---------------------------------------------------------------- the gate

def test_no_pages_folder_next_to_the_app():
    # With a pages/ folder, Streamlit runs the first visit after a start as an old-style multipage app,
    # which knows none of the router's addresses: a "Page not found" dialog (test_e2e_addresses.py).
    from tests.fixtures.web import APP

    assert not (Path(APP).parent / "pages").exists(), "keep the screens in app_pages/"


def test_logged_out_visitors_only_get_login_and_register(web_app):
    at = web_app()
    assert not at.exception
    assert "login_email" in {w.key for w in at.text_input}
    for page in LOGGED_IN_PAGES:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)
    at.switch_page("app_pages/register.py").run()
    assert "register_email" in {w.key for w in at.text_input}
    assert not at.chat_input


def test_login_opens_chat_and_sets_a_cookie_holding_a_live_session(web_app, web_user, web_services):
    at = log_in(web_app(), web_user.email, web_user.password)
    assert titles(at) == ["Chat"] and not at.exception
    token = cookie_token(at, web_services.settings)
    assert accounts.resolve_session(web_services.backend, token).user_id == web_user.user_id
    assert "Max-Age=604800" in cookie_writes(at)[-1] and "SameSite=Strict" in cookie_writes(at)[-1]
    for page in LOGGED_IN_PAGES:
        at.switch_page(page).run()
        assert not at.exception
    with pytest.raises(ValueError):
        at.switch_page("app_pages/login.py")


def test_wrong_password_says_so_and_stays_logged_out(web_app, web_user):
    at = log_in(web_app(), web_user.email, "Wrong-password-1")
    assert [e.value for e in at.error] == ["Wrong email or password."]
    assert "login_email" in {w.key for w in at.text_input} and not cookie_writes(at)
    with pytest.raises(ValueError):
        at.switch_page("app_pages/chat.py")


def test_register_logs_the_new_user_in(web_app, web_services):
    at = web_app(page="app_pages/register.py")
    at.text_input(key="register_email").input("grace@example.com")
    at.text_input(key="register_password").input("Brand-new-pass-9")
    at.text_input(key="register_repeat").input("Brand-new-pass-9")
    at.button(key="FormSubmitter:register-Create account").click().run()
    assert titles(at) == ["Chat"]
    assert any("Your account is ready." in s.value for s in at.toast)
    assert web_services.backend.records.find_user_by_email("grace@example.com") is not None


@pytest.mark.parametrize(("password", "repeat", "message"), [
    ("Brand-new-pass-9", "Brand-new-pass-8", "The two passwords do not match."),
    ("short", "short", "at least 10 characters"),
])
def test_register_refuses_bad_passwords_with_one_sentence(web_app, web_services, password, repeat, message):
    at = web_app(page="app_pages/register.py")
    at.text_input(key="register_email").input("grace@example.com")
    at.text_input(key="register_password").input(password)
    at.text_input(key="register_repeat").input(repeat)
    at.button(key="FormSubmitter:register-Create account").click().run()
    assert len(at.error) == 1 and message in at.error[0].value
    assert web_services.backend.records.find_user_by_email("grace@example.com") is None


def test_a_valid_cookie_logs_in_a_new_browser_session(web_app, web_user, web_services):
    cookie = webauth.encode_cookie(web_services.settings, web_user.token)
    assert titles(web_app(cookie=cookie)) == ["Chat"]


def test_a_replayed_cookie_stops_working_after_logout(web_app, web_user, web_services):
    cookie = webauth.encode_cookie(web_services.settings, web_user.token)
    at = web_app(cookie=cookie)
    at.switch_page("app_pages/settings.py").run()
    assert titles(at) == ["Settings"]
    webauth_sign_out_via_page(at)
    assert "login_email" in {w.key for w in at.text_input}
    assert "Max-Age=0" in cookie_writes(at)[-1]
    assert accounts.resolve_session(web_services.backend, web_user.token) is None
    assert titles(web_app(cookie=cookie)) == ["DELTA3"]  # a fresh session with the old cookie: login page


def webauth_sign_out_via_page(at) -> None:
    """Open the 'Log out' navigation entry (a callable page, so it is found by its URL path)."""
    at._page_hash = next(h for h, info in at._registered_pages.items() if info.get("url_pathname") == "sign-out")
    at.run()


def test_a_forged_cookie_is_ignored(web_app, web_user, web_services):
    from dataclasses import replace

    forged = webauth.encode_cookie(replace(web_services.settings, secret_key="z" * 48), web_user.token)
    assert titles(web_app(cookie=forged)) == ["DELTA3"]


def test_revoking_sessions_elsewhere_logs_this_browser_out_on_its_next_action(web_app, web_user, web_services):
    at = web_app(user=web_user)
    assert titles(at) == ["Chat"]
    accounts.logout_everywhere(web_services.backend, web_user.user_id)
    at.run()
    assert "login_email" in {w.key for w in at.text_input}
    assert any("session has ended" in i.value for i in at.info)


def test_a_configuration_mistake_is_one_clear_sentence(web_app, monkeypatch):
    monkeypatch.setenv("DELTA3_BACKEND", "aws")
    at = web_app()
    assert [e.value for e in at.error] == ["DELTA3_BUCKET must be set when DELTA3_BACKEND=aws."]
    assert not at.exception and not at.text_input


def test_plain_shows_file_names_as_written():
    assert webauth.plain("__init__.py and a*b [x]") == "\\_\\_init\\_\\_.py and a\\*b \\[x\\]"


def _first_page_element(at) -> int:
    """Where the page itself starts in the main area (after the router's cookie elements)."""
    return next(i for i, child in sorted(at.main.children.items()) if child.type != "html")


def test_the_page_keeps_its_place_whether_or_not_a_cookie_is_written(web_app, web_user):
    # If it moved, the browser would show the whole page twice while the next answer streams.
    at = log_in(web_app(), web_user.email, web_user.password)
    assert cookie_writes(at)
    with_cookie = _first_page_element(at)
    at.run()
    assert not cookie_writes(at) and _first_page_element(at) == with_cookie
