"""The SMS webhook through Flask's test client: signatures, commands, replays, limits, privacy, bad input."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from delta3_core import accounts, history, keys
from delta3_core.storage.base import Message
from sms_webhook import create_app
from tests.fixtures.storage import store_down
from tests.fixtures.twilio import PHONE, Texter, inbound_form, sign, twiml_messages

PASSWORD = "correct-horse-battery"
OTHER_PHONE = "+14155550999"


@pytest.fixture
def backend(sms_app):
    """The app's own storage backend, to check what a message changed."""
    return sms_app.extensions["delta3_sms"].services.backend


@pytest.fixture
def alice(backend):
    """A web-registered account, not yet linked to any phone."""
    return accounts.register(backend, "alice@example.com", PASSWORD)


@pytest.fixture
def linked(backend, alice):
    """Alice with PHONE linked."""
    accounts.link_phone(backend, alice.user_id, PHONE)
    return alice


# ------------------------------------------------------------------ startup and signatures

@pytest.mark.parametrize("missing, env", [("public_url", "DELTA3_PUBLIC_URL"),
                                          ("twilio_auth_token", "TWILIO_AUTH_TOKEN")])
def test_webhook_without_required_setting_answers_503_naming_it(sms_settings, missing, env):
    app = create_app(replace(sms_settings, **{missing: None}))  # the service starts: the API needs no Twilio
    response = app.test_client().post("/twilio/webhook", data=inbound_form("HELP"))
    assert response.status_code == 503
    assert env in response.get_data(as_text=True)


def test_healthz(texter):
    assert texter.client.get("/healthz").status_code == 200


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", None])
def test_bad_or_missing_signature_is_403_and_nothing_happens(texter, backend, signature):
    form = inbound_form(f"REGISTER bob@example.com {PASSWORD}")
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    response = texter.client.post("/twilio/webhook", data=form, headers=headers)
    assert response.status_code == 403
    assert backend.records.find_user_by_email("bob@example.com") is None
    # The MessageSid was not used up: the genuine, signed delivery still works.
    assert "Account created" in texter.reply_form(form)[0]


def test_signature_for_another_url_or_token_or_altered_body_is_refused(texter):
    form = inbound_form("HELP")
    assert texter.post(form, sign(form, url="https://evil.example/twilio/webhook")).status_code == 403
    assert texter.post(form, sign(form, token="0" * 32)).status_code == 403
    assert texter.post({**form, "Body": "CLEAR"}, sign(form)).status_code == 403


def test_signature_checked_against_public_url_not_the_local_host(texter):
    # The test client calls http://localhost/..., Twilio signed https://sms.delta3.test/...: still accepted.
    assert texter.reply("HELP")[0].startswith("DELTA3 commands")


# ------------------------------------------------------------------ commands

def test_help_lists_commands(texter):
    reply = texter.reply("help")[0]
    for word in ("REGISTER", "LINK", "KEY", "CLEAR", "MORE", "UNLINK", "STOP"):
        assert word in reply


@pytest.mark.parametrize("body", ["write me a fizzbuzz", "FROBNICATE now", "MORE", "CLEAR", "UNLINK"])
def test_unlinked_number_gets_explanation_and_nothing_runs(texter, fake_gemini, body):
    reply = texter.reply(body)[0]
    assert "REGISTER" in reply and "LINK" in reply
    assert fake_gemini.requests == []


def test_register_creates_account_and_links_phone(texter, backend):
    reply = texter.reply(f"REGISTER Carol@Example.com {PASSWORD}")[0]
    assert "Account created" in reply and "KEY" in reply
    user = accounts.user_for_phone(backend, PHONE)
    assert user.email == "carol@example.com"
    # The same kind of account the web creates: the password works for a web login.
    assert accounts.authenticate(backend, "carol@example.com", PASSWORD).user_id == user.user_id


@pytest.mark.parametrize("body, expect", [
    ("REGISTER not-an-email " + PASSWORD, "email"),
    ("REGISTER dave@example.com short", "assword"),
])
def test_register_bad_input_is_refused_and_nothing_created(texter, backend, body, expect):
    reply = texter.reply(body)[0]
    assert expect in reply
    assert accounts.user_for_phone(backend, PHONE) is None
    assert backend.records.find_user_by_email("dave@example.com") is None


def test_register_taken_email_is_refused(texter, backend, alice):
    assert "already exists" in texter.reply(f"REGISTER alice@example.com {PASSWORD}")[0]
    assert accounts.user_for_phone(backend, PHONE) is None


def test_register_on_linked_phone_is_refused(texter, backend, linked):
    assert "already linked" in texter.reply(f"REGISTER eve@example.com {PASSWORD}")[0]
    assert backend.records.find_user_by_email("eve@example.com") is None


def test_register_with_missing_password_gets_usage(texter, backend):
    assert "REGISTER <email> <password>" in texter.reply("register frank@example.com")[0]
    assert backend.records.find_user_by_email("frank@example.com") is None


def test_link_to_existing_web_account(texter, backend, alice):
    reply = texter.reply(f"link alice@example.com {PASSWORD}")[0]
    assert "now linked to alice@example.com" in reply
    assert accounts.user_for_phone(backend, PHONE).user_id == alice.user_id


def test_link_wrong_password_changes_nothing(texter, backend, alice):
    reply = texter.reply("LINK alice@example.com wrong-password-1")[0]
    assert "email or password" in reply.lower() or "incorrect" in reply.lower() or "wrong" in reply.lower()
    assert accounts.user_for_phone(backend, PHONE) is None


def test_link_phone_already_linked_to_another_account_changes_nothing(texter, backend, linked):
    bob = accounts.register(backend, "bob@example.com", PASSWORD)
    reply = texter.reply(f"LINK bob@example.com {PASSWORD}")[0]
    assert "another account" in reply and "UNLINK" in reply
    assert accounts.user_for_phone(backend, PHONE).user_id == linked.user_id
    assert backend.records.get_user(bob.user_id).phone is None


def test_unlink(texter, backend, linked):
    assert "no longer linked" in texter.reply("UNLINK")[0]
    assert accounts.user_for_phone(backend, PHONE) is None
    assert "REGISTER" in texter.reply("hello?")[0]


def test_key_saves_encrypted_key_after_checking_it(texter, backend, linked, fake_gemini):
    key = "AIzaSyD-this-is-a-fake-key-0123456789"
    reply = texter.reply(f"KEY {key}")[0]
    assert "saved" in reply and key not in reply
    assert keys.get_gemini_key(backend, linked.user_id) == key
    assert key not in (backend.records.get_user(linked.user_id).gemini_key_ct or "")


def test_key_refused_by_gemini_is_not_saved(texter, backend, linked, fake_gemini):
    fake_gemini.valid_keys = {"AIza-the-only-good-key-000000000000"}
    reply = texter.reply("KEY AIza-a-wrong-key-0000000000000000")[0]
    assert "not saved" in reply
    assert keys.get_gemini_key(backend, linked.user_id) is None


@pytest.mark.parametrize("bad_key", ["ключ-ключ-ключ-ключ", "A" * 300])
def test_malformed_key_is_refused_clearly(texter, backend, linked, fake_gemini, bad_key):
    reply = texter.reply(f"KEY {bad_key}")[0]
    assert "Gemini API key" in reply and "wrong" not in reply
    assert keys.get_gemini_key(backend, linked.user_id) is None
    assert fake_gemini.requests == []  # refused before it was sent anywhere


def test_key_from_unlinked_phone_is_refused(texter, fake_gemini):
    assert "not linked" in texter.reply("KEY AIza-some-key-000000000000000000")[0]
    assert fake_gemini.requests == []


def test_clear_empties_history_but_keeps_files(texter, backend, linked):
    history.append(backend, linked.user_id, [Message("user", "old question"), Message("assistant", "old answer")])
    backend.files.write_bytes(linked.user_id, "keep.py", b"print(1)\n")
    assert "cleared" in texter.reply("Clear")[0]
    assert history.recent(backend, linked.user_id) == []
    assert backend.files.read_bytes(linked.user_id, "keep.py") == b"print(1)\n"


def test_more_with_nothing_pending(texter, linked):
    assert "nothing more" in texter.reply("MORE")[0]


def test_chat_without_key_asks_for_key(texter, linked, fake_gemini):
    assert "KEY" in texter.reply("write fizzbuzz")[0]
    assert fake_gemini.requests == []


def test_stop_silences_everything_until_start(texter, backend, linked):
    assert "unsubscribed" in texter.reply("STOP")[0]
    assert texter.reply("HELP") == []
    assert texter.reply("CLEAR") == []
    assert "subscribed" in texter.reply("start")[0]
    assert texter.reply("HELP")[0].startswith("DELTA3 commands")


# ------------------------------------------------------------------ replays and limits

def test_replayed_message_sid_is_processed_once(texter, backend):
    form = inbound_form(f"REGISTER gina@example.com {PASSWORD}")
    assert "Account created" in texter.reply_form(form)[0]
    accounts.unlink_phone(backend, accounts.user_for_phone(backend, PHONE).user_id)
    assert texter.reply_form(form) == []  # a Twilio retry: acknowledged, not run again
    assert accounts.user_for_phone(backend, PHONE) is None


def test_replay_on_another_replica_is_processed_once(make_sms_app, texter, backend):
    other = make_sms_app()  # a second process on the same store
    form = inbound_form(f"REGISTER hank@example.com {PASSWORD}")
    assert "Account created" in texter.reply_form(form)[0]
    assert Texter(other.test_client()).reply_form(form) == []


def test_per_phone_rate_limit_answers_politely_once(make_sms_app):
    texter = Texter(make_sms_app(sms_rate_per_phone=3).test_client())
    replies = [texter.reply("HELP") for _ in range(6)]
    assert all(r[0].startswith("DELTA3 commands") for r in replies[:3])
    assert "faster than I can answer" in replies[3][0]
    assert replies[4] == [] and replies[5] == []
    assert texter.reply("HELP", phone=OTHER_PHONE)[0].startswith("DELTA3 commands")
    assert "unsubscribed" in texter.reply("STOP")[0]  # opting out always works


def test_global_rate_limit(make_sms_app):
    texter = Texter(make_sms_app(sms_rate_global=2).test_client())
    assert texter.reply("HELP", phone="+14155550001")[0].startswith("DELTA3")
    assert texter.reply("HELP", phone="+14155550002")[0].startswith("DELTA3")
    assert "very busy" in texter.reply("HELP", phone="+14155550003")[0]
    assert texter.reply("HELP", phone="+14155550003") == []


# ------------------------------------------------------------------ bad input and privacy

def test_a_store_failure_before_the_message_runs_is_answered_not_a_500(texter, backend, linked, monkeypatch):
    monkeypatch.setattr(backend.records, "incr_counter", store_down)
    response = texter.send("hello")
    assert response.status_code == 200
    [text] = twiml_messages(response.data)
    assert "send it again" in text


@pytest.mark.parametrize("field", ["From", "MessageSid"])
def test_missing_field_is_a_clear_400(texter, field):
    form = inbound_form("HELP")
    del form[field]
    response = texter.post(form)
    assert response.status_code == 400
    assert field in response.get_data(as_text=True)


def test_missing_body_is_treated_as_empty(texter):
    form = inbound_form("x")
    del form["Body"]
    assert "empty" in texter.reply_form(form)[0]


def test_empty_body(texter):
    assert "empty" in texter.reply("   ")[0]


def test_picture_without_text(texter, linked):
    assert "text" in texter.reply_form(inbound_form("", NumMedia="1", MediaUrl0="https://x/y.jpg"))[0]


def test_ten_thousand_character_body_is_refused(texter, backend, linked, fake_gemini):
    reply = texter.reply("x" * 10_000)[0]
    assert "too long" in reply and "10000" in reply
    assert fake_gemini.requests == []
    assert history.recent(backend, linked.user_id) == []


def test_non_phone_sender_gets_clear_reply(texter, backend):
    reply = texter.reply(f"REGISTER ivy@example.com {PASSWORD}", phone="whatsapp:+1415")[0]
    assert "phone numbers only" in reply
    assert backend.records.find_user_by_email("ivy@example.com") is None


def test_passwords_and_keys_never_reach_the_log(texter, backend, caplog, fake_gemini):
    caplog.set_level(logging.DEBUG)
    secret_password, secret_key = "Sup3r-secret-pass", "AIzaSyD-secret-key-value-0123456789"
    texter.reply(f"REGISTER judy@example.com {secret_password}")
    texter.reply("LINK judy@example.com Wrong-pass-999")
    texter.reply(f"KEY {secret_key}")
    texter.reply("my private chat text")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "REGISTER" in logged  # the log does say what happened...
    for secret in (secret_password, "Wrong-pass-999", secret_key, "my private chat text", "judy@example.com"):
        assert secret not in logged  # ...but never what was typed
