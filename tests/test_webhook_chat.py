"""Chatting by SMS through the real agent and a fake Gemini: inline and late replies, splitting, MMS, web."""

from __future__ import annotations

from dataclasses import replace

import pytest

from delta3_core import accounts, history, keys
from delta3_core.sms.paging import SMS_MAX_CHARS
from delta3_core.workspace import Workspace
from tests.fixtures.gemini import gemini_call, gemini_calls, gemini_text
from tests.fixtures.storage import store_down
from tests.fixtures.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PHONE,
    PUBLIC_URL,
    TWILIO_NUMBER,
    Texter,
    inbound_form,
    twiml_media,
    twiml_messages,
)
from tests.fixtures.web import WebUser

PASSWORD = "correct-horse-battery"
KEY = "AIza-sms-chat-test-key-0000000000000"


@pytest.fixture
def reply_wait() -> float:
    """How long the webhook waits for an inline answer; tests of late answers parametrize it down."""
    return 10.0


@pytest.fixture
def chat_app(make_sms_app, fake_gemini, reply_wait):
    """The webhook, and PHONE linked to an account that has a Gemini key."""
    app = make_sms_app(sms_reply_wait_s=reply_wait)
    backend = app.extensions["delta3_sms"].services.backend
    user = accounts.register(backend, "sam@example.com", PASSWORD)
    accounts.link_phone(backend, user.user_id, PHONE)
    keys.set_gemini_key(backend, user.user_id, KEY)
    app.user = user
    return app


@pytest.fixture
def sam(chat_app):
    """Signed SMS from Sam's phone."""
    return Texter(chat_app.test_client())


def _words(n: int) -> str:
    return " ".join(f"word{i}" for i in range(n))


def _unmark(parts: list[str]) -> str:
    """Join message parts back into the answer, dropping the "(i/n)" marks and MORE notes."""
    kept = []
    for part in parts:
        lines = [line for line in part.split("\n") if not line.startswith(("Reply MORE", "("))]
        kept.append(" ".join(lines))
    return " ".join(kept)


def test_quick_answer_comes_back_inline_and_is_saved_as_sms(sam, chat_app, fake_gemini):
    fake_gemini.enqueue(gemini_text("FizzBuzz prints numbers, Fizz for 3s and Buzz for 5s."))
    assert sam.reply("what is fizzbuzz") == ["FizzBuzz prints numbers, Fizz for 3s and Buzz for 5s."]
    request = fake_gemini.generate_requests[-1]
    assert request.api_key == KEY
    assert "SMS" in request.system_text  # the agent was told to be brief
    saved = history.recent(chat_app.extensions["delta3_sms"].services.backend, chat_app.user.user_id)
    assert [(m.role, m.channel) for m in saved] == [("user", "sms"), ("assistant", "sms")]


@pytest.mark.parametrize("reply_wait", [0.3])  # the model takes longer than this
def test_slow_model_answer_arrives_through_messages_api(sam, fake_gemini, fake_twilio):
    fake_gemini.enqueue(gemini_text("Here is the slow answer.").later(2.0))
    response = sam.send("think hard about this")
    assert response.status_code == 200
    assert twiml_messages(response.data) == []  # Twilio got its answer in time: empty <Response/>
    sent = fake_twilio.wait_for(1)
    assert sent[0]["body"] == "Here is the slow answer."
    assert (sent[0]["to"], sent[0]["from"]) == (PHONE, TWILIO_NUMBER)


@pytest.mark.parametrize("reply_wait", [0.3])  # the model takes longer than this
def test_messages_of_one_phone_are_answered_in_order(sam, fake_gemini, fake_twilio):
    # If the second message ran alongside the first, its quick answer would be sent first.
    fake_gemini.enqueue(gemini_text("answer one").later(1.5), gemini_text("answer two"))
    assert twiml_messages(sam.send("question one").data) == []
    assert twiml_messages(sam.send("question two").data) == []
    sent = fake_twilio.wait_for(2)
    assert [m["body"] for m in sent] == ["answer one", "answer two"]


def test_long_answer_is_split_in_order_within_the_limit(sam, fake_gemini):
    answer = _words(500)  # about 3,900 characters: three messages
    fake_gemini.enqueue(gemini_text(answer))
    parts = sam.reply("explain everything")
    assert len(parts) == 3
    assert all(len(p) <= SMS_MAX_CHARS for p in parts)
    assert [p.rsplit("\n", 1)[1] for p in parts] == ["(1/3)", "(2/3)", "(3/3)"]
    assert _unmark(parts) == answer


def test_very_long_answer_is_paged_with_more(sam, fake_gemini):
    answer = _words(1400)  # about 12,000 characters: more than three messages
    fake_gemini.enqueue(gemini_text(answer))
    pages = [sam.reply("tell me all of it")]
    assert "Reply MORE" in pages[0][-1]
    while "Reply MORE" in pages[-1][-1]:
        pages.append(sam.reply("more"))
        assert len(pages) < 10
    parts = [p for page in pages for p in page]
    assert all(len(p) <= SMS_MAX_CHARS for p in parts)
    assert _unmark(parts) == answer
    assert "nothing more" in sam.reply("MORE")[0]
    assert len(fake_gemini.generate_requests) == 1  # MORE never asks the model again


def test_more_after_clear_shows_nothing_of_the_old_answer(sam, fake_gemini):
    fake_gemini.enqueue(gemini_text(_words(1400)))
    assert "Reply MORE" in sam.reply("tell me all of it")[-1]
    assert "cleared" in sam.reply("CLEAR")[0]
    assert "nothing more" in sam.reply("MORE")[0]


def test_more_never_shows_another_accounts_answer_after_the_phone_changes_hands(sam, chat_app, fake_gemini):
    fake_gemini.enqueue(gemini_text(_words(1400)))
    assert "Reply MORE" in sam.reply("tell me all of it")[-1]
    backend = chat_app.extensions["delta3_sms"].services.backend
    accounts.unlink_phone(backend, chat_app.user.user_id)  # on the web's Settings page
    assert "Account created" in sam.reply("REGISTER kim@example.com another-pass-77")[0]
    assert "nothing more" in sam.reply("MORE")[0]


@pytest.mark.parametrize("reply_wait", [0.3])  # the model takes longer than this
def test_late_long_answer_is_sent_as_ordered_messages(sam, fake_gemini, fake_twilio):
    answer = _words(500)
    fake_gemini.enqueue(gemini_text(answer).later(1.5))
    assert twiml_messages(sam.send("explain slowly").data) == []
    sent = fake_twilio.wait_for(3)
    assert [m["body"].rsplit("\n", 1)[1] for m in sent] == ["(1/3)", "(2/3)", "(3/3)"]
    assert _unmark([m["body"] for m in sent]) == answer


@pytest.mark.parametrize("reply_wait", [0.3])  # the model takes longer than this
def test_stop_while_an_answer_is_pending_means_it_is_not_sent(sam, fake_gemini, fake_twilio, chat_app):
    fake_gemini.enqueue(gemini_text("you should not get this").later(1.5))
    assert twiml_messages(sam.send("slow question").data) == []
    assert "unsubscribed" in sam.reply("STOP")[0]
    chat_app.extensions["delta3_sms"].close()  # let the slow answer finish
    assert fake_twilio.messages == []


def test_model_error_is_a_short_reply(sam, fake_gemini):
    fake_gemini.valid_keys = {"AIza-some-other-key"}
    reply = sam.reply("hello")[0]
    assert "KEY" in reply and len(reply) < 400


def test_image_is_sent_as_mms_with_an_expiring_link(make_sms_app, sms_settings, fake_gemini, require_sandbox):
    from tests.fixtures.executor import TEST_LIMITS

    app = make_sms_app(sms_reply_wait_s=10.0, **TEST_LIMITS)
    backend = app.extensions["delta3_sms"].services.backend
    user = accounts.register(backend, "pic@example.com", PASSWORD)
    accounts.link_phone(backend, user.user_id, PHONE)
    keys.set_gemini_key(backend, user.user_id, KEY)
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    code = f"open('chart.png', 'wb').write({png!r})"
    fake_gemini.enqueue(gemini_calls(gemini_call("execute_python", {"code": code})), gemini_text("Made a chart."))
    texter = Texter(app.test_client())
    response = texter.post(inbound_form("draw a chart"))
    assert twiml_messages(response.data) == ["Made a chart."]
    [url] = twiml_media(response.data)
    assert url.startswith(sms_settings.public_url + "/media/")
    path = url[len(sms_settings.public_url):]
    fetched = texter.client.get(path)
    assert fetched.status_code == 200 and fetched.data == png and fetched.mimetype == "image/png"
    assert texter.client.get(path[:-3] + "AAA").status_code == 403  # altered link


def test_conversation_started_by_sms_continues_on_the_web(web_env, web_app, make_sms_app, fake_gemini, fake_twilio):
    """REGISTER, KEY and a chat that writes a file by SMS; then the web Chat page shows it and carries on."""
    settings = replace(web_env, public_url=PUBLIC_URL, twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
                       twilio_phone_number=TWILIO_NUMBER, twilio_api_base_url=fake_twilio.base_url)
    app = make_sms_app(settings, sms_reply_wait_s=10.0)
    try:
        services = app.extensions["delta3_sms"].services
        texter = Texter(app.test_client())
        assert "Account created" in texter.reply(f"REGISTER web@example.com {PASSWORD}")[0]
        assert "saved" in texter.reply(f"KEY {KEY}")[0]
        fake_gemini.enqueue(
            gemini_calls(gemini_call("write_file", {"path": "hello.py", "content": "print('hi from sms')\n"})),
            gemini_text("Saved hello.py."))
        assert texter.reply("make hello.py that prints hi") == ["Saved hello.py."]
    finally:
        app.extensions["delta3_sms"].close()

    user = accounts.user_for_phone(services.backend, PHONE)
    assert Workspace(services.backend, user.user_id, settings.quota_bytes).read_text("hello.py") == \
        "print('hi from sms')\n"
    token = accounts.create_session(services.backend, user.user_id)
    at = web_app(user=WebUser(user.user_id, user.email, PASSWORD, token), page="app_pages/chat.py")
    shown = "\n".join(m.value for m in at.markdown)
    assert "make hello.py that prints hi" in shown and "Saved hello.py." in shown  # the SMS turn, on the web

    fake_gemini.enqueue(gemini_text("It prints hi from sms."))
    at.chat_input[0].set_value("what does hello.py print?").run()
    assert not at.exception and not at.error
    assert "It prints hi from sms." in "\n".join(m.value for m in at.markdown)
    assert "make hello.py that prints hi" in str(fake_gemini.generate_requests[-1].contents)  # same context
    channels = [m.channel for m in history.recent(services.backend, user.user_id) if m.role == "user"]
    assert channels == ["sms", "web"]


def test_the_answer_still_reaches_the_phone_when_the_store_fails_after_it(sam, chat_app, fake_gemini, monkeypatch):
    records = chat_app.extensions["delta3_sms"].services.backend.records
    for name in ("append_messages", "put_value", "delete_value"):
        monkeypatch.setattr(records, name, store_down)
    fake_gemini.enqueue(gemini_text("Here is what you asked for."))
    [text] = sam.reply("a question")
    assert text.startswith("Here is what you asked for.")
    assert "could not be saved" in text


def test_past_the_daily_limit_one_sms_names_the_limit_and_gemini_is_not_called(make_sms_app, fake_gemini):
    from delta3_core import usage

    app = make_sms_app(sms_reply_wait_s=10.0, daily_token_limit=500)
    backend = app.extensions["delta3_sms"].services.backend
    user = accounts.register(backend, "sam@example.com", PASSWORD)
    accounts.link_phone(backend, user.user_id, PHONE)
    keys.set_gemini_key(backend, user.user_id, KEY)
    usage.record_usage(backend, user.user_id, 400, 100)
    [message] = Texter(app.test_client()).reply("write me a poem")
    assert "daily limit of 500 tokens" in message and "00:00 UTC" in message
    assert fake_gemini.generate_requests == []


def test_model_lists_the_live_models_refuses_a_retired_one_and_switches(sam, chat_app, fake_gemini):
    backend = chat_app.extensions["delta3_sms"].services.backend
    shown = sam.reply("model")
    assert len(shown) == 1 and shown[0].startswith("Model: gemini-3.8-flash. Your key can use: gemini-3.8-flash, ")
    assert "gemini-3.1-pro-preview" in shown[0] and "gemini-2.5-flash" not in shown[0]
    assert "embedding" not in shown[0] and "Text MODEL <name> to switch." in shown[0]
    assert [r.api_key for r in fake_gemini.requests if r.action == "list"] == [KEY]
    refused = sam.reply("MODEL gemini-2.5-flash")[0]
    assert "gemini-2.5-flash is not a model your Gemini key can use" in refused and "gemini-3.7-flash" in refused
    assert backend.records.get_user(chat_app.user.user_id).model is None
    assert sam.reply("MODEL gemini-3.7-flash") == ["Now using gemini-3.7-flash."]
    assert sam.reply("Model")[0].startswith("Model: gemini-3.7-flash.")
    fake_gemini.enqueue(gemini_text("Answered by 3.7."))
    assert sam.reply("hello") == ["Answered by 3.7."]
    assert fake_gemini.generate_requests[-1].model == "gemini-3.7-flash"
    assert sam.reply("MODEL default") == ["Now using gemini-3.8-flash."]


def test_a_chat_with_parallel_tool_calls_passes_the_strict_fake_by_sms(sam, chat_app, fake_gemini):
    fake_gemini.enqueue(
        gemini_calls(gemini_call("write_file", {"path": "a.py", "content": "A = 1\n"}),
                     gemini_call("write_file", {"path": "b.py", "content": "B = 2\n"}), thoughts="Two files."),
        gemini_calls(gemini_call("read_file", {"path": "a.py"}), gemini_call("list_files", {})),
        gemini_text("Wrote a.py and b.py.", thoughts_tokens=7, thoughts="All done."))
    assert sam.reply("write two files") == ["Wrote a.py and b.py."]  # no thoughts by SMS
    second, third = fake_gemini.generate_requests[1:]
    assert len(second.function_responses) == 2 and len(third.function_responses) == 4
    assert fake_gemini.violations == []  # signatures came back, every call was answered
    assert all("includeThoughts" not in str(r.body) and "include_thoughts" not in str(r.body)
               for r in fake_gemini.generate_requests)


def test_undo_by_sms_reverts_the_last_turns_then_says_nothing_is_left(sam, chat_app, fake_gemini):
    services = chat_app.extensions["delta3_sms"].services
    ws = Workspace(services.backend, chat_app.user.user_id, services.settings.quota_bytes)
    ws.write_text("app.py", "v0")
    for version in ("v1", "v2"):
        fake_gemini.enqueue(gemini_calls(gemini_call("write_file", {"path": "app.py", "content": version})),
                            gemini_text("Saved."))
        assert sam.reply(f"make it {version}") == ["Saved."]
    assert sam.reply("UNDO") == ['Undid the file changes of that turn (your message "make it v2"): restored app.py.']
    assert ws.read_text("app.py") == "v1"
    assert "restored app.py" in sam.reply("undo")[0] and ws.read_text("app.py") == "v0"
    assert sam.reply("Undo")[0].startswith("Nothing left to undo")
    assert ws.read_text("app.py") == "v0"
    notes = [m for m in history.recent(services.backend, chat_app.user.user_id) if m.meta.get("undo")]
    assert [m.channel for m in notes] == ["sms", "sms"]
