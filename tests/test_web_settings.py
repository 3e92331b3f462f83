"""The Settings page: Gemini key, model, phone linking (with an SMS code), password, sessions."""

from __future__ import annotations

import re

import pytest

from delta3_core import accounts, keys
from delta3_core.accounts import phone_verify
from tests.fixtures.twilio import ACCOUNT_SID, AUTH_TOKEN, TWILIO_NUMBER
from tests.fixtures.web import click, page_text

GOOD_KEY = "AIzaSyGood-0123456789abcdefghij"
BAD_KEY = "AIzaSyBad-00000000000000000000x"


@pytest.fixture
def settings_page(web_app, web_user):
    return lambda: web_app(user=web_user, page="app_pages/settings.py")


def test_a_good_key_is_checked_saved_and_shown_masked(settings_page, web_user, web_services, fake_gemini):
    fake_gemini.valid_keys = {GOOD_KEY}
    at = settings_page()
    at.text_input(key="new_key").input(GOOD_KEY)
    click(at, "Check and save")
    assert "Your Gemini key works and is saved." in page_text(at)
    assert keys.get_gemini_key(web_services.backend, web_user.user_id) == GOOD_KEY
    assert "AIza…ghij" in page_text(at) and GOOD_KEY not in page_text(at)
    assert at.text_input(key="new_key").value == ""  # never echoed back into the field
    assert fake_gemini.requests and fake_gemini.requests[-1].api_key == GOOD_KEY


def test_a_rejected_key_is_not_saved(settings_page, web_user, web_services, fake_gemini):
    fake_gemini.valid_keys = {GOOD_KEY}
    at = settings_page()
    at.text_input(key="new_key").input(BAD_KEY)
    click(at, "Check and save")
    assert [e.value for e in at.error] == ["Gemini rejected that API key; check that you copied all of it."]
    assert keys.get_gemini_key(web_services.backend, web_user.user_id) is None
    assert BAD_KEY not in page_text(at)


def test_remove_key(settings_page, web_user, web_services, fake_gemini):
    keys.set_gemini_key(web_services.backend, web_user.user_id, GOOD_KEY)
    at = click(settings_page(), "Remove my key")
    assert keys.get_gemini_key(web_services.backend, web_user.user_id) is None
    assert "Your Gemini key is removed." in page_text(at)


def test_model_choice(settings_page, web_user, web_services):
    at = settings_page()  # no key yet: the built-in list
    assert at.selectbox(key="model_choice").value == web_services.settings.model == "gemini-3.8-flash"
    assert "Add your Gemini key to see exactly which models it can use." in page_text(at)
    at.selectbox(key="model_choice").select("gemini-3.1-pro-preview")
    click(at, "Use this model")
    assert web_services.backend.records.get_user(web_user.user_id).model == "gemini-3.1-pro-preview"
    at.selectbox(key="model_choice").select(web_services.settings.model)
    click(at, "Use this model")
    assert web_services.backend.records.get_user(web_user.user_id).model is None


def test_the_model_menu_is_the_live_list_of_the_users_key_with_names_and_thinking(settings_page, web_user,
                                                                                 web_services, fake_gemini):
    keys.set_gemini_key(web_services.backend, web_user.user_id, GOOD_KEY)
    fake_gemini.catalogue.append({"name": "gemini-plain", "displayName": "Gemini Plain", "thinking": False})
    at = settings_page()
    menu = at.selectbox(key="model_choice")
    assert menu.options[0] == "Gemini 3.8 Flash · gemini-3.8-flash (default)"
    assert "Gemini 3.7 Flash · gemini-3.7-flash" in menu.options and "Gemini Plain · gemini-plain" in menu.options
    assert not any("2.5" in option or "embedding" in option for option in menu.options)
    assert [r.api_key for r in fake_gemini.requests if r.action == "list"] == [GOOD_KEY]
    menu.select("gemini-3.7-flash")
    at.selectbox(key="thinking_choice").select("low")
    click(at, "Use this model")
    user = web_services.backend.records.get_user(web_user.user_id)
    assert (user.model, user.prefs.get("thinking")) == ("gemini-3.7-flash", "low")
    assert "DELTA3 now answers with gemini-3.7-flash." in page_text(at)
    assert at.selectbox(key="thinking_choice").value == "low"
    at.selectbox(key="model_choice").select("gemini-plain").run()
    assert not [s for s in at.selectbox if s.key == "thinking_choice"]  # it does not think: no menu
    assert sum(r.action == "list" for r in fake_gemini.requests) == 1  # cached across reruns


def test_without_sms_a_phone_is_linked_only_from_the_phone(settings_page, web_user, web_services):
    # No code can be sent, so the web page must not link a number nobody proved is theirs.
    at = settings_page()
    assert all(t.key != "phone" for t in at.text_input)
    assert not any(b.label in ("Link phone", "Send me a code") for b in at.button)
    assert any("LINK <your email> <your password>" in i.value for i in at.info)
    accounts.link_phone(web_services.backend, web_user.user_id, "+14155550100")  # as the SMS LINK command does
    at = settings_page()
    assert any("+14155550100" in s.value for s in at.success)
    at = click(at, "Unlink this number")
    assert web_services.backend.records.get_user(web_user.user_id).phone is None


@pytest.fixture
def with_twilio(monkeypatch, fake_twilio):
    for name, value in (("TWILIO_ACCOUNT_SID", ACCOUNT_SID), ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
                        ("TWILIO_PHONE_NUMBER", TWILIO_NUMBER), ("TWILIO_API_BASE_URL", fake_twilio.base_url)):
        monkeypatch.setenv(name, value)
    return fake_twilio


def test_phone_needs_the_code_sent_by_sms(settings_page, web_user, web_services, with_twilio):
    at = settings_page()
    at.text_input(key="phone").input("+14155550100")
    click(at, "Send me a code")
    sms = with_twilio.wait_for(1)[0]
    assert sms["to"] == "+14155550100" and sms["from"] == TWILIO_NUMBER
    code = re.search(r"\b(\d{6})\b", sms["body"]).group(1)
    wrong = "000000" if code != "000000" else "111111"
    at.text_input(key="phone_code").input(wrong)
    at.button(key="FormSubmitter:code-Link phone").click().run()
    assert "That code is not right" in at.error[0].value
    assert web_services.backend.records.get_user(web_user.user_id).phone is None
    at.text_input(key="phone_code").input(code)
    at.button(key="FormSubmitter:code-Link phone").click().run()
    assert web_services.backend.records.get_user(web_user.user_id).phone == "+14155550100"
    assert accounts.user_for_phone(web_services.backend, "+14155550100").user_id == web_user.user_id


def test_phone_codes_expire_after_too_many_wrong_tries(web_services, web_user, with_twilio):
    from dataclasses import replace

    from delta3_core.config import load_settings
    from delta3_core.errors import ValidationError

    web_services.settings = replace(load_settings(), data_dir=web_services.settings.data_dir)
    phone_verify.send_code(web_services, web_user.user_id, "+14155550100")
    for _ in range(phone_verify.MAX_TRIES - 1):
        with pytest.raises(ValidationError, match="not right"):
            phone_verify.confirm_code(web_services, web_user.user_id, "abc")
    with pytest.raises(ValidationError, match="Too many wrong codes"):
        phone_verify.confirm_code(web_services, web_user.user_id, "abc")
    assert phone_verify.pending_phone(web_services, web_user.user_id) is None


def test_change_password_keeps_this_session_and_ends_others(settings_page, web_user, web_services):
    other_device = accounts.create_session(web_services.backend, web_user.user_id)
    at = settings_page()
    at.text_input(key="pw_old").input(web_user.password)
    at.text_input(key="pw_new").input("Another-Pass-77")
    at.text_input(key="pw_repeat").input("Another-Pass-77")
    at.button(key="FormSubmitter:password-Change password").click().run()
    assert "Password changed." in page_text(at)
    assert accounts.resolve_session(web_services.backend, other_device) is None
    assert accounts.resolve_session(web_services.backend, web_user.token) is None
    at.run()
    assert [t.value for t in at.title] == ["Settings"]  # still logged in here, on a fresh token
    assert accounts.authenticate(web_services.backend, web_user.email, "Another-Pass-77")


def test_change_password_with_a_wrong_current_password(settings_page, web_user, web_services):
    at = settings_page()
    at.text_input(key="pw_old").input("Not-my-password-1")
    at.text_input(key="pw_new").input("Another-Pass-77")
    at.text_input(key="pw_repeat").input("Another-Pass-77")
    at.button(key="FormSubmitter:password-Change password").click().run()
    assert len(at.error) == 1
    assert accounts.resolve_session(web_services.backend, web_user.token) is not None


def test_change_password_with_two_different_new_passwords_changes_nothing(settings_page, web_user, web_services):
    at = settings_page()
    at.text_input(key="pw_old").input(web_user.password)
    at.text_input(key="pw_new").input("Another-Pass-77")
    at.text_input(key="pw_repeat").input("Another-Pass-78")
    at.button(key="FormSubmitter:password-Change password").click().run()
    assert [e.value for e in at.error] == ["The two passwords do not match."]
    assert accounts.authenticate(web_services.backend, web_user.email, web_user.password)


def test_log_out_everywhere(settings_page, web_user, web_services):
    other_device = accounts.create_session(web_services.backend, web_user.user_id)
    at = click(settings_page(), "Log out everywhere")
    assert "login_email" in {w.key for w in at.text_input}
    assert "You are logged out on every device." in page_text(at)
    for token in (other_device, web_user.token):
        assert accounts.resolve_session(web_services.backend, token) is None


def test_a_phone_linked_to_another_account_gets_no_code(web_services, web_user, with_twilio):
    from dataclasses import replace

    from delta3_core.config import load_settings
    from delta3_core.errors import ConflictError
    from tests.fixtures.web import WEB_PASSWORD

    web_services.settings = replace(load_settings(), data_dir=web_services.settings.data_dir)
    other = accounts.register(web_services.backend, "bob@example.com", WEB_PASSWORD)
    accounts.link_phone(web_services.backend, other.user_id, "+14155550100")
    with pytest.raises(ConflictError):
        phone_verify.send_code(web_services, web_user.user_id, "+1 415 555 0100")
    assert with_twilio.messages == []


def test_with_a_key_saved_settings_point_back_to_chat(settings_page, web_user, web_services):
    at = settings_page()
    assert not at.get("page_link")
    assert any("aistudio.google.com/apikey](https://aistudio.google.com/apikey)" in i.value for i in at.info)
    keys.set_gemini_key(web_services.backend, web_user.user_id, GOOD_KEY)
    at = settings_page()
    assert [link.proto.label for link in at.get("page_link")] == ["Start chatting"]


def test_api_token_is_created_shown_once_listed_and_revoked(settings_page, web_user, web_services):
    from delta3_core.accounts import tokens as pat

    at = settings_page()
    at.text_input(key="token_name").input("laptop")
    at.selectbox(key="token_expiry").select("30 days")
    click(at, "Create token")
    assert "Token “laptop” created." in page_text(at)
    shown = [c.value for c in at.code if c.value.startswith("d3p_")]
    assert len(shown) == 1
    listed = pat.list_tokens(web_services.backend, web_user.user_id)
    assert [t.name for t in listed] == ["laptop"] and listed[0].expires_at is not None
    assert pat.resolve_bearer(web_services.backend, shown[0]).user.user_id == web_user.user_id
    at.run()
    assert not [c for c in at.code if c.value.startswith("d3p_")]  # never shown again
    assert "laptop" in page_text(at)
    click(at, "Revoke")
    assert "Token “laptop” is revoked." in page_text(at)
    assert pat.list_tokens(web_services.backend, web_user.user_id) == []
    assert pat.resolve_bearer(web_services.backend, shown[0]) is None


def test_a_nameless_token_is_refused(settings_page, web_user, web_services):
    from delta3_core.accounts import tokens as pat

    at = click(settings_page(), "Create token")
    assert "Give the token a name" in [e.value for e in at.error][0]
    assert pat.list_tokens(web_services.backend, web_user.user_id) == []
