"""The google-genai model layer against the fake Gemini server (real client, real HTTP)."""

from __future__ import annotations

import pytest
from google.genai import types

from delta3_core.agent.errors import RetryPolicy
from delta3_core.agent.model import GeminiModel, ModelReply, check_key
from delta3_core.errors import ModelError
from tests.fixtures.gemini import (
    gemini_call,
    gemini_calls,
    gemini_disconnect,
    gemini_error,
    gemini_invalid_key,
    gemini_text,
)

FAST = RetryPolicy(attempts=3, backoff_s=0.05, max_wait_s=10.0)
HELLO = [types.Content(role="user", parts=[types.Part(text="hello")])]


def run(model: GeminiModel, contents=HELLO, system="You are a test.", tools=()):
    """Drain one streamed turn: (text deltas, the final ModelReply)."""
    items = list(model.stream(contents, system, list(tools)))
    assert isinstance(items[-1], ModelReply)
    return items[:-1], items[-1]


def failure(model: GeminiModel) -> ModelError:
    with pytest.raises(ModelError) as info:
        run(model)
    return info.value


def test_streams_text_in_pieces_with_usage_and_the_users_key(fake_gemini):
    fake_gemini.enqueue(gemini_text("Hello there, I am streaming this answer to you.", 120, 30))
    deltas, reply = run(GeminiModel("key-alice", "gemini-3.8-flash"))
    assert len(deltas) > 1 and "".join(deltas) == reply.text == "Hello there, I am streaming this answer to you."
    assert (reply.tokens_in, reply.tokens_out, reply.calls) == (120, 30, [])
    request = fake_gemini.generate_requests[0]
    assert request.api_key == "key-alice"
    assert request.action == "streamGenerateContent" and request.query == {"alt": ["sse"]}
    assert request.model == "gemini-3.8-flash" and request.system_text == "You are a test."


def test_function_calls_come_back_with_args_and_the_model_turn(fake_gemini):
    fake_gemini.enqueue(gemini_calls(gemini_call("write_file", {"path": "a.py", "content": "x = 1"}),
                                     gemini_call("execute_python", {"code": "print(1)"}, call_id="abc"),
                                     text="Writing it."))
    declaration = types.FunctionDeclaration(name="write_file", description="Write a file.")
    _, reply = run(GeminiModel("k", "gemini-3.8-flash"), tools=[declaration])
    assert [(c.name, c.args) for c in reply.calls] == [
        ("write_file", {"path": "a.py", "content": "x = 1"}), ("execute_python", {"code": "print(1)"})]
    assert reply.calls[1].call_id == "abc" and reply.calls[1].sent_id
    assert len({c.call_id for c in reply.calls}) == 2
    assert reply.content.role == "model" and len(reply.content.parts) == 3
    assert fake_gemini.generate_requests[0].function_names == ["write_file"]


def test_client_is_per_key_so_two_users_send_their_own_keys(fake_gemini):
    fake_gemini.enqueue(gemini_text("for alice"), gemini_text("for bob"))
    run(GeminiModel("key-alice", "gemini-3.8-flash"))
    run(GeminiModel("key-bob", "gemini-3.8-flash"))
    assert [r.api_key for r in fake_gemini.generate_requests] == ["key-alice", "key-bob"]


def test_invalid_key_is_not_retried(fake_gemini):
    fake_gemini.enqueue(gemini_invalid_key(), gemini_text("never sent"))
    error = failure(GeminiModel("bad", "gemini-3.8-flash", retry=FAST))
    assert error.kind == "invalid_key" and "API key" in str(error)
    assert len(fake_gemini.generate_requests) == 1


@pytest.mark.parametrize(("reply", "kind", "words"), [
    (gemini_error(401, status="UNAUTHENTICATED"), "invalid_key", "API key"),
    (gemini_error(403, "Permission denied."), "permission", "permission denied"),
    (gemini_error(404, "models/nope is not found."), "not_found", "not available"),
    (gemini_error(400, "Request contains an invalid argument."), "bad_request", "invalid argument"),
])
def test_client_errors_give_a_plain_sentence(fake_gemini, reply, kind, words):
    fake_gemini.enqueue(reply)
    error = failure(GeminiModel("k", "gemini-3.8-flash", retry=FAST))
    assert error.kind == kind and words in str(error) and str(error).endswith(".")
    assert "{" not in str(error)  # no raw JSON for the user


def test_quota_error_waits_the_retry_delay_google_sends_then_succeeds(fake_gemini):
    waits: list[float] = []
    fake_gemini.enqueue(gemini_error(429, "Quota exceeded.", retry_delay="2s"), gemini_text("ok now"))
    _, reply = run(GeminiModel("k", "gemini-3.8-flash", retry=FAST, sleep=waits.append))
    assert reply.text == "ok now" and waits == [2.0]


def test_quota_error_with_a_long_retry_delay_fails_at_once_saying_when(fake_gemini):
    fake_gemini.enqueue(gemini_error(429, "Quota exceeded.", retry_delay="37s"), gemini_text("never"))
    error = failure(GeminiModel("k", "gemini-3.8-flash", retry=FAST))
    assert error.kind == "quota" and "37 seconds" in str(error)
    assert len(fake_gemini.generate_requests) == 1


def test_server_errors_are_retried_with_backoff_then_reported(fake_gemini):
    waits: list[float] = []
    fake_gemini.enqueue(gemini_error(503, "Overloaded."), gemini_error(500), gemini_text("recovered"))
    _, reply = run(GeminiModel("k", "gemini-3.8-flash", retry=FAST, sleep=waits.append))
    assert reply.text == "recovered" and waits == [0.05, 0.1]

    fake_gemini.enqueue(*(gemini_error(503) for _ in range(3)))
    error = failure(GeminiModel("k", "gemini-3.8-flash", retry=FAST))
    assert error.kind == "unavailable" and "503" in str(error)
    assert len(fake_gemini.generate_requests) == 6


def test_network_failure_is_retried_then_reported(fake_gemini):
    fake_gemini.enqueue(gemini_disconnect(), gemini_text("back"))
    assert run(GeminiModel("k", "gemini-3.8-flash", retry=FAST))[1].text == "back"
    fake_gemini.enqueue(*(gemini_disconnect() for _ in range(3)))
    error = failure(GeminiModel("k", "gemini-3.8-flash", retry=FAST))
    assert error.kind == "network" and "reach Gemini" in str(error)


def test_timeout_from_settings_ends_a_slow_call(fake_gemini):
    fake_gemini.enqueue(gemini_text("too late").later(5))
    error = failure(GeminiModel("k", "gemini-3.8-flash", timeout_s=0.5, retry=FAST))
    assert error.kind == "timeout" and "0.5 seconds" in str(error)
    assert len(fake_gemini.generate_requests) == 1


def test_blocked_prompt_is_reported_in_the_reply(fake_gemini):
    from tests.fixtures.gemini import gemini_blocked

    fake_gemini.enqueue(gemini_blocked("SAFETY"))
    _, reply = run(GeminiModel("k", "gemini-3.8-flash"))
    assert reply.block_reason == "SAFETY" and reply.text == "" and reply.calls == []


def test_unreadable_function_args_become_a_bad_response_error(fake_gemini):
    fake_gemini.enqueue(gemini_calls(gemini_call("write_file", "not an object")))
    assert failure(GeminiModel("k", "gemini-3.8-flash", retry=FAST)).kind == "bad_response"


def test_check_key_accepts_a_working_key_and_rejects_a_bad_one(fake_gemini):
    fake_gemini.valid_keys = {"good-key"}
    check_key("good-key")
    with pytest.raises(ModelError) as info:
        check_key("wrong-key")
    assert info.value.kind == "invalid_key"
    assert [(r.action, r.api_key) for r in fake_gemini.requests] == [("list", "good-key"), ("list", "wrong-key")]
    with pytest.raises(ModelError):
        check_key("  ")


def test_google_genai_own_variables_are_honoured(fake_gemini, monkeypatch):
    import inspect

    from google.genai import _api_client

    if "GOOGLE_GENAI_API_VERSION" not in inspect.getsource(_api_client):
        pytest.skip("this google-genai (the oldest we support) has no GOOGLE_GENAI_API_VERSION yet")
    fake_gemini.enqueue(gemini_text("default"))
    run(GeminiModel("k", "gemini-3.8-flash"))
    monkeypatch.setenv("GOOGLE_GENAI_API_VERSION", "v1alpha")  # what an operator sets to pick a version
    fake_gemini.enqueue(gemini_text("alpha"))
    run(GeminiModel("k", "gemini-3.8-flash"))
    versions = [r.api_version for r in fake_gemini.generate_requests]
    assert versions[0] in ("v1", "v1beta") and versions[1] == "v1alpha"


def test_a_stream_cut_mid_answer_is_not_retried_twice_over_the_shown_text(fake_gemini):
    from tests.fixtures.gemini import gemini_cut

    fake_gemini.enqueue(gemini_cut("The first words arrive and then the line goes dead"), gemini_text("never"))
    shown: list[str] = []
    with pytest.raises(ModelError) as info:
        for item in GeminiModel("k", "gemini-3.8-flash", retry=FAST).stream(HELLO, "system", []):
            shown.append(item)
    assert info.value.kind == "network" and "".join(shown).startswith("The first words")
    assert fake_gemini.pending() == 1  # not retried: the user has already seen part of the answer
