"""Web: usage chart and daily limit in Settings, the chat refusing past the limit, export, deletion, reset page."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest

from delta3_core import accounts, keys, usage
from delta3_core.accounts import reset
from delta3_core.checkpoints import Recorder
from tests.fixtures.web import click, page_text


@pytest.fixture
def limited(monkeypatch):
    """The operator's default daily limit and maximum (read by the app from the environment)."""
    monkeypatch.setenv("DELTA3_DAILY_TOKEN_LIMIT", "1000")
    monkeypatch.setenv("DELTA3_DAILY_TOKEN_LIMIT_MAX", "50000")


def test_usage_tab_shows_today_the_chart_and_cost_by_model(web_app, web_user, web_services, limited):
    usage.record_usage(web_services.backend, web_user.user_id, 300, 100, 50, model="gemini-2.5-flash")
    at = web_app(user=web_user, page="app_pages/settings.py")
    assert not at.exception
    text = page_text(at)
    assert "450 tokens today of your daily limit of 1,000" in text
    assert "Estimated cost over 30 days" in text and "thinking counts as output" in text
    table = at.dataframe[0].value
    assert list(table["Model"]) == ["gemini-2.5-flash"] and int(table["Tokens in"][0]) == 300
    assert table["Estimated cost"][0].startswith("$")
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")  # the 30-day bar chart is drawn


def test_own_daily_limit_is_saved_within_the_maximum(web_app, web_user, web_services, limited):
    at = web_app(user=web_user, page="app_pages/settings.py")
    at.number_input(key="daily_limit").set_value(20000)
    at = next(b for b in at.button if b.label == "Save limit").click().run()
    assert "Your daily limit is 20,000 tokens." in page_text(at)
    assert accounts.require_user(web_services.backend, web_user.user_id).prefs["daily_token_limit"] == 20000


def test_chat_past_the_limit_says_when_it_resets_and_gemini_is_not_called(web_app, web_user, web_services,
                                                                          fake_gemini, limited):
    keys.set_gemini_key(web_services.backend, web_user.user_id, "AIzaSyTest-0123456789abcdefghij")
    usage.record_usage(web_services.backend, web_user.user_id, 900, 100)
    at = web_app(user=web_user)
    at.chat_input[0].set_value("Hello again").run()
    assert len(at.error) == 1
    assert "daily limit of 1,000 tokens" in at.error[0].value and "00:00 UTC" in at.error[0].value
    assert fake_gemini.generate_requests == []


def test_export_download_holds_the_account_without_secrets(web_services, web_user):
    from delta3_core.web.account import export_bytes

    keys.set_gemini_key(web_services.backend, web_user.user_id, "AIzaSyTest-0123456789abcdefghij")
    web_services.backend.files.write_bytes(web_user.user_id, "notes.txt", b"mine before")
    recorder = Recorder(web_services, web_user.user_id, "web", "rewrite notes")
    with recorder.changing(["notes.txt"]):
        web_services.backend.files.write_bytes(web_user.user_id, "notes.txt", b"mine")
    assert recorder.commit() is not None
    archive = zipfile.ZipFile(io.BytesIO(export_bytes(web_services, web_user.user_id)))
    assert archive.read("workspace/notes.txt") == b"mine"
    assert sorted(archive.namelist()) == ["account.json", "history.json", "workspace/notes.txt"]  # no checkpoints
    assert json.loads(archive.read("account.json"))["email"] == "ada@example.com"
    assert b"AIzaSyTest" not in b"".join(archive.read(n) for n in archive.namelist())


def test_delete_needs_password_and_typed_email_then_logs_out(web_app, web_user, web_services):
    at = web_app(user=web_user, page="app_pages/settings.py")
    at.text_input(key="delete_password").input(web_user.password)
    at.text_input(key="delete_confirm").input("someone@else.com")
    at = click(at, "Delete my account forever")
    assert "Type your email address exactly" in page_text(at)
    assert web_services.backend.records.get_user(web_user.user_id) is not None
    at.text_input(key="delete_password").input("wrong password 1")
    at.text_input(key="delete_confirm").input("ADA@example.com ")
    at = click(at, "Delete my account forever")
    assert "current password is not correct" in page_text(at)
    at.text_input(key="delete_password").input(web_user.password)
    at.text_input(key="delete_confirm").input("ada@example.com")
    at = click(at, "Delete my account forever")
    assert web_services.backend.records.get_user(web_user.user_id) is None
    assert at.text_input(key="login_email") is not None  # back at the login page
    assert "Your account and all its data are deleted." in page_text(at)


def test_an_account_made_with_google_sets_a_password_and_deletes_with_its_typed_email(web_app, web_services):
    from delta3_core.accounts import oidc
    from tests.fixtures.web import WebUser

    identity = oidc.identity_from_claims({"iss": "https://accounts.example.test", "sub": "g-7", "iat": int(time.time()),
                                          "email": "gina@example.com", "email_verified": True, "nonce": "n-7"})
    user = oidc.sign_in(web_services.backend, identity)
    gina = WebUser(user.user_id, user.email, "", accounts.create_session(web_services.backend, user.user_id))
    at = web_app(user=gina, page="app_pages/settings.py")
    assert not [t for t in at.text_input if t.key in ("delete_password", "pw_old")]  # it has no password to ask
    at.text_input(key="delete_confirm").input("gina@example.com")
    at = click(at, "Delete my account forever")
    assert web_services.backend.records.get_user(user.user_id) is None
    assert "Your account and all its data are deleted." in page_text(at)


def test_an_account_made_with_google_can_set_a_password(web_app, web_services):
    from delta3_core.accounts import oidc
    from tests.fixtures.web import WebUser

    identity = oidc.identity_from_claims({"iss": "https://accounts.example.test", "sub": "g-8", "iat": int(time.time()),
                                          "email": "gina@example.com", "email_verified": True, "nonce": "n-8"})
    user = oidc.sign_in(web_services.backend, identity)
    gina = WebUser(user.user_id, user.email, "", accounts.create_session(web_services.backend, user.user_id))
    at = web_app(user=gina, page="app_pages/settings.py")
    at.text_input(key="pw_new").input("a fine new password 7")
    at.text_input(key="pw_repeat").input("a fine new password 7")
    at.button(key="FormSubmitter:password-Set password").click().run()
    assert "Password changed" in page_text(at)
    signed_in = accounts.authenticate(web_services.backend, "gina@example.com", "a fine new password 7")
    assert signed_in.user_id == user.user_id
    assert at.text_input(key="pw_old") is not None  # from now on it is a password account


def test_forgot_password_page_with_an_operator_code(web_app, web_user, web_services):
    at = web_app()
    assert any(link.label == "Forgot password?" for link in at.get("page_link"))
    at.switch_page("app_pages/reset_password.py").run()
    at.text_input(key="reset_email").input("ada@example.com")
    at = click(at, "Text me a code")
    assert "Ask the operator of this server for a code" in page_text(at)  # no phone: the same answer
    code = reset.operator_code(web_services, "ada@example.com")
    at.text_input(key="reset_code").input("000000" if code != "000000" else "111111")
    at.text_input(key="reset_new").input("battery staple 43")
    at.text_input(key="reset_repeat").input("battery staple 43")
    at = click(at, "Set new password")
    assert "not right or has expired" in page_text(at)
    at.text_input(key="reset_code").input(code)
    at.text_input(key="reset_new").input("battery staple 43")
    at.text_input(key="reset_repeat").input("battery staple 43")
    at = click(at, "Set new password")
    assert "Your password is changed" in page_text(at)
    assert accounts.resolve_session(web_services.backend, web_user.token) is None
    assert accounts.authenticate(web_services.backend, "ada@example.com", "battery staple 43")
