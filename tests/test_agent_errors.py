"""Every way a turn can fail gives the user one plain sentence, and the turn is still saved."""

from __future__ import annotations

import pytest

from delta3_core import history, keys
from delta3_core.agent import ErrorEvent, chat, collect
from tests.agent_helpers import add_user, kinds, make_services
from tests.fixtures.gemini import (
    FakeReply,
    gemini_blocked,
    gemini_call,
    gemini_calls,
    gemini_disconnect,
    gemini_error,
    gemini_invalid_key,
    gemini_text,
)
from tests.fixtures.storage import store_down

CASES = {
    "invalid key": ([gemini_invalid_key()], "invalid_key", "rejected your API key"),
    "unauthenticated": ([gemini_error(401)], "invalid_key", "rejected your API key"),
    "permission denied": ([gemini_error(403, "Permission denied.")], "permission", "permission denied"),
    "quota, long retry delay": ([gemini_error(429, "Quota exceeded.", retry_delay="45s")], "quota", "45 seconds"),
    "quota after retries": ([gemini_error(429, retry_delay="1s")] * 3, "quota", "rate limit"),
    "server errors": ([gemini_error(503, "The model is overloaded.")] * 3, "unavailable", "server error 503"),
    "network failures": ([gemini_disconnect()] * 3, "network", "Could not reach Gemini"),
    "timeout": ([gemini_text("too late").later(3)], "timeout", "did not answer within 0.5 seconds"),
    "blocked prompt": ([gemini_blocked("PROHIBITED_CONTENT")], "blocked", "declined to answer"),
    "blocked answer": ([FakeReply(parts=[], finish_reason="SAFETY")], "blocked", "(safety)"),
    "empty answer": ([FakeReply(parts=[], finish_reason="STOP")], "empty", "empty answer"),
    "malformed call twice": ([FakeReply(parts=[], finish_reason="MALFORMED_FUNCTION_CALL")] * 2, "malformed",
                             "valid tool call"),
    "unreadable args": ([gemini_calls(gemini_call("write_file", ["not", "an", "object"]))], "bad_response",
                        "could not be read"),
    # The turn's model and the one it moves to both refused: nothing left to try.
    "unknown model": ([gemini_error(404, "models/gemini-9 is not found.")] * 2, "not_found", "not available"),
}


@pytest.fixture
def services(tmp_path):
    services = make_services(tmp_path, model_timeout_s=0.5)
    yield services
    services.backend.records.close()


@pytest.mark.parametrize("case", list(CASES))
def test_each_failure_gives_one_sentence_and_saves_the_turn(services, fake_gemini, case):
    replies, kind, words = CASES[case]
    user = add_user(services, "alice", "key-alice")
    fake_gemini.enqueue(*replies)
    events = list(chat(services, user, "Please build me a todo app"))
    assert kinds(events)[-1] == f"error:{kind}"
    error = events[-1]
    assert words in error.message
    assert error.message.endswith(".") and "{" not in error.message and "key-alice" not in error.message
    assert fake_gemini.pending() == 0  # retried as often as planned, and no more
    saved = history.recent(services.backend, user)
    assert [m.role for m in saved] == ["user", "assistant"]
    assert saved[0].content == "Please build me a todo app"
    assert saved[1].meta["error"] == kind and words in saved[1].content


def test_quota_wait_is_bounded_by_the_retry_delay_google_sends(services, fake_gemini):
    user = add_user(services, "alice", "key-alice")
    fake_gemini.enqueue(gemini_error(429, retry_delay="1s"), gemini_text("Back in business."))
    assert collect(chat(services, user, "hi")).text == "Back in business."
    assert len(fake_gemini.generate_requests) == 2


def test_a_5xx_is_retried_and_the_user_never_notices(services, fake_gemini):
    user = add_user(services, "alice", "key-alice")
    fake_gemini.enqueue(gemini_error(500), gemini_text("Fine."))
    reply = collect(chat(services, user, "hi"))
    assert (reply.text, reply.error) == ("Fine.", None)


@pytest.mark.parametrize(("channel", "fix"), [("web", "in Settings"), ("sms", "KEY <your-gemini-api-key>")])
def test_without_a_key_the_user_is_told_where_to_add_it(services, fake_gemini, channel, fix):
    user = add_user(services, "alice")
    events = list(chat(services, user, "hello?", channel=channel))
    assert len(events) == 1 and isinstance(events[0], ErrorEvent) and events[0].kind == "no_key"
    assert fix in events[0].message
    assert fake_gemini.requests == []
    assert history.recent(services.backend, user)[0].content == "hello?"


@pytest.mark.parametrize(("channel", "fix"), [("web", "in Settings"), ("sms", "Send KEY")])
def test_a_rejected_key_message_says_how_to_fix_it_on_each_channel(services, fake_gemini, channel, fix):
    user = add_user(services, "alice", "key-alice")
    fake_gemini.enqueue(gemini_invalid_key())
    assert fix in collect(chat(services, user, "hi", channel=channel)).error


def test_an_unreadable_stored_key_asks_for_the_key_again(services, fake_gemini):
    user = add_user(services, "alice", "key-alice")
    bob = add_user(services, "bob", "key-bob")
    bobs_ciphertext = services.backend.records.get_user(bob).gemini_key_ct
    services.backend.records.update_user(user, gemini_key_ct=bobs_ciphertext)  # swapped ciphertext
    reply = collect(chat(services, user, "hi"))
    assert "enter your key again" in reply.error and reply.error_kind == "key_unreadable"
    assert fake_gemini.requests == []
    assert keys.get_gemini_key(services.backend, bob) == "key-bob"


def test_an_error_after_some_work_keeps_the_work_and_the_tool_records(services, fake_gemini):
    user = add_user(services, "alice", "key-alice")
    fake_gemini.enqueue(gemini_calls(gemini_call("write_file", {"path": "app.py", "content": "print('hi')"}),
                                     text="Writing app.py."),
                        gemini_error(403))
    reply = collect(chat(services, user, "write app.py"))
    assert reply.error_kind == "permission"
    saved = history.recent(services.backend, user)
    assert [m.role for m in saved] == ["user", "tool", "assistant"]
    assert saved[2].content.startswith("Writing app.py.") and "permission denied" in saved[2].content


def test_a_network_failure_mid_answer_keeps_the_part_already_shown(services, fake_gemini):
    from tests.fixtures.gemini import gemini_cut

    user = add_user(services, "alice", "key-alice")
    fake_gemini.enqueue(gemini_cut("Here is the first part of a long answer about sorting"))
    reply = collect(chat(services, user, "explain sorting"))
    assert reply.error_kind == "network" and reply.text.startswith("Here is the first part")
    saved = history.recent(services.backend, user)[-1]
    assert saved.content.startswith("Here is the first part") and "Could not reach Gemini" in saved.content


def test_an_answer_cut_at_the_length_limit_says_so(services, fake_gemini):
    user = add_user(services, "alice", "key-alice")
    fake_gemini.enqueue(FakeReply(parts=[{"text": "A very long essay that"}], finish_reason="MAX_TOKENS"))
    reply = collect(chat(services, user, "write an essay"))
    assert reply.error is None and reply.text.startswith("A very long essay that")
    assert "length limit" in reply.text


def test_a_failed_turn_is_not_replayed_to_the_model_as_something_it_said(services, fake_gemini):
    user = add_user(services, "alice", "key-alice")
    fake_gemini.enqueue(gemini_error(403), gemini_text("ok"))
    collect(chat(services, user, "first try"))
    collect(chat(services, user, "second try"))
    contents = fake_gemini.generate_requests[-1].contents
    assert contents == [{"role": "user", "parts": [{"text": "first try"}, {"text": "second try"}]}]


def test_an_unknown_account_is_told_to_log_in_and_nothing_is_stored(services, fake_gemini):
    reply = collect(chat(services, "no-such-user", "hello"))
    assert reply.error_kind == "no_account" and "log in again" in reply.error
    assert history.recent(services.backend, "no-such-user") == [] and fake_gemini.requests == []


def test_an_internal_error_with_the_store_down_does_not_claim_the_message_was_saved(services, fake_gemini,
                                                                                     monkeypatch):
    from delta3_core.agent import loop

    user = add_user(services, "alice", "key-alice")

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(loop, "system_instruction", broken)
    monkeypatch.setattr(services.backend.records, "append_messages", store_down)
    reply = collect(chat(services, user, "hello"))
    assert reply.error_kind == "internal"
    assert "was saved" not in reply.error and "could not be saved" in reply.error


def test_a_model_error_with_the_store_down_also_says_the_turn_was_not_saved(services, fake_gemini, monkeypatch):
    user = add_user(services, "alice", "key-alice")
    monkeypatch.setattr(services.backend.records, "append_messages", store_down)
    fake_gemini.enqueue(gemini_error(403))
    reply = collect(chat(services, user, "hello"))
    assert reply.error_kind == "permission"
    assert "permission denied" in reply.error and "could not be saved" in reply.error


def test_a_usage_counter_failure_does_not_tell_the_user_their_saved_conversation_was_lost(services, fake_gemini,
                                                                                          monkeypatch):
    user = add_user(services, "alice", "key-alice")
    monkeypatch.setattr(services.backend.records, "incr_counter", store_down)
    fake_gemini.enqueue(gemini_text("Hello there."))
    reply = collect(chat(services, user, "hello"))
    assert (reply.text, reply.error) == ("Hello there.", None)
    assert [m.content for m in history.recent(services.backend, user)] == ["hello", "Hello there."]
