"""The fake Gemini is as strict as the real API: each rule, shown refusing a request that breaks it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from google.genai import types

from delta3_core.agent.model import GeminiModel, ModelReply, Thought, fetch_models
from delta3_core.errors import ModelError
from tests.fixtures.gemini import gemini_call, gemini_calls, gemini_stream_error, gemini_text
from tests.fixtures.gemini_rules import RESPONSE_COUNT

MODEL = "gemini-3.8-flash"
ASK = types.Content(role="user", parts=[types.Part(text="write two files")])


def post(fake, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(fake.base_url + path, json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read().decode().removeprefix("data: ").split("\r\n")[0])
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get(fake, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(fake.base_url + path, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def drain(model: GeminiModel, contents: list[types.Content]) -> tuple[list, ModelReply]:
    items = list(model.stream(contents, "system", []))
    return items[:-1], items[-1]


def test_retired_and_unknown_models_answer_404_with_googles_message(fake_gemini):
    for name in ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash", "no-such-model"):
        status, body = post(fake_gemini, f"/v1beta/models/{name}:generateContent", {"contents": []})
        assert status == 404 and body["error"]["status"] == "NOT_FOUND"
        assert f"models/{name} is not found" in body["error"]["message"]
    fake_gemini.enqueue(gemini_text("hi"))
    assert post(fake_gemini, f"/v1beta/models/{MODEL}:generateContent",
                {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})[0] == 200


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_models_list_is_served_on_both_versions_and_paged(fake_gemini, version):
    status, first = get(fake_gemini, f"/{version}/models?pageSize=5")
    assert status == 200 and len(first["models"]) == 5 and first["nextPageToken"]
    _, rest = get(fake_gemini, f"/{version}/models?pageSize=50&pageToken={first['nextPageToken']}")
    names = [m["name"] for m in first["models"] + rest["models"]]
    assert "models/gemini-3.8-flash" in names and "models/gemini-embedding-001" in names
    assert "models/gemini-2.5-flash" not in names and "nextPageToken" not in rest
    assert get(fake_gemini, f"/{version}/models/gemini-2.5-pro")[0] == 404
    assert get(fake_gemini, f"/{version}/models/{MODEL}")[1]["displayName"] == "Gemini 3.8 Flash"


def test_fetch_models_pages_through_and_keeps_only_generate_content(fake_gemini):
    found = fetch_models("key")
    names = [name for name, _, _ in found]
    assert ("gemini-3.8-flash", "Gemini 3.8 Flash", True) in found
    assert "gemini-embedding-001" not in names and "imagen-4.0-generate-001" not in names
    assert len(names) == 11  # all pages: the client follows nextPageToken


def test_a_thought_signature_must_come_back_on_the_same_part(fake_gemini):
    fake_gemini.allow_violations = True
    fake_gemini.enqueue(gemini_calls(gemini_call("write_file", {"path": "a"}),
                                     gemini_call("write_file", {"path": "b"})), gemini_text("done"))
    _, reply = drain(GeminiModel("k", MODEL), [ASK])
    signed = [p for p in reply.content.parts if p.thought_signature]
    assert len(signed) == 1 and reply.content.parts[0].thought_signature  # the first call carries it
    answers = types.Content(role="user", parts=[
        types.Part(function_response=types.FunctionResponse(name="write_file", response={"output": "ok"}))] * 2)
    moved = reply.content.model_copy(deep=True)
    moved.parts[1].thought_signature, moved.parts[0].thought_signature = moved.parts[0].thought_signature, None
    stripped = reply.content.model_copy(deep=True)
    stripped.parts[0].thought_signature = None
    for broken in (moved, stripped):
        with pytest.raises(ModelError) as info:
            drain(GeminiModel("k", MODEL), [ASK, broken, answers])
        assert info.value.kind == "bad_request" and "thought_signature" in str(info.value)
    assert fake_gemini.pending() == 1  # refused requests do not use up the queued answer
    assert drain(GeminiModel("k", MODEL), [ASK, reply.content, answers])[1].text == "done"
    assert len(fake_gemini.violations) == 2


def test_signatures_of_an_earlier_turn_are_not_checked(fake_gemini):
    # Google checks only the current turn (since the last user text); older steps may have lost theirs.
    old_call = types.Content(role="model", parts=[types.Part(function_call=types.FunctionCall(name="read_file"))])
    old_answer = types.Content(role="user", parts=[
        types.Part(function_response=types.FunctionResponse(name="read_file", response={"output": "x"}))])
    fake_gemini.enqueue(gemini_text("fine"))
    assert drain(GeminiModel("k", MODEL), [ASK, old_call, old_answer, ASK])[1].text == "fine"


def test_function_responses_must_match_the_number_of_calls(fake_gemini):
    fake_gemini.allow_violations = True
    fake_gemini.enqueue(gemini_calls(gemini_call("list_files"), gemini_call("read_file", {"path": "a"})))
    _, reply = drain(GeminiModel("k", MODEL), [ASK])
    one = types.Content(role="user", parts=[
        types.Part(function_response=types.FunctionResponse(name="list_files", response={"output": "a"}))])
    with pytest.raises(ModelError) as info:
        drain(GeminiModel("k", MODEL), [ASK, reply.content, one])
    assert "number of function response parts" in str(info.value) or info.value.kind == "bad_request"
    assert fake_gemini.violations == [RESPONSE_COUNT]


def test_parallel_calls_arrive_in_separate_chunks_and_all_are_read(fake_gemini):
    fake_gemini.enqueue(gemini_calls(gemini_call("list_files"), gemini_call("read_file", {"path": "a"}),
                                     gemini_call("read_file", {"path": "b"}), text="Looking."))
    _, reply = drain(GeminiModel("k", MODEL), [ASK])
    assert [c.name for c in reply.calls] == ["list_files", "read_file", "read_file"]
    raw = urllib.request.Request(fake_gemini.base_url + f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
                                 json.dumps({"contents": [{"role": "user", "parts": [{"text": "x"}]}]}).encode(),
                                 headers={"Content-Type": "application/json"})
    fake_gemini.enqueue(gemini_calls(gemini_call("list_files"), gemini_call("read_file", {"path": "a"})))
    with urllib.request.urlopen(raw, timeout=10) as answer:
        chunks = [json.loads(line[6:]) for line in answer.read().decode().splitlines() if line.startswith("data: ")]
    assert [len(c["candidates"][0]["content"]["parts"]) for c in chunks] == [1, 1]
    assert "usageMetadata" in chunks[-1] and "usageMetadata" not in chunks[0]


def test_an_error_event_inside_a_stream_ends_the_answer_with_a_sentence(fake_gemini):
    fake_gemini.enqueue(gemini_stream_error("Here is the start of a long answer that", code=503))
    items = []
    with pytest.raises(ModelError) as info:
        for item in GeminiModel("k", MODEL).stream([ASK], "system", []):
            items.append(item)
    assert "".join(items).startswith("Here is") and info.value.kind == "unavailable"
    assert len(fake_gemini.generate_requests) == 1  # text was shown: not retried (it would repeat itself)


def test_thinking_tokens_and_thought_summaries(fake_gemini):
    fake_gemini.enqueue(gemini_text("42", output_tokens=3, thoughts_tokens=120, thoughts="Adding 40 and 2."))
    items, reply = drain(GeminiModel("k", MODEL, thinking="low", include_thoughts=True), [ASK])
    assert (reply.tokens_out, reply.tokens_thinking, reply.text) == (123, 120, "42")
    assert "".join(i.text for i in items if isinstance(i, Thought)) == "Adding 40 and 2."
    assert [i for i in items if isinstance(i, str)] == ["42"]  # thoughts first, never in the answer
    config = fake_gemini.generate_requests[0].body["generationConfig"]["thinkingConfig"]
    assert {k.replace("_", "").lower(): v for k, v in config.items()} == {"thinkinglevel": "LOW",
                                                                          "includethoughts": True}
    fake_gemini.enqueue(gemini_text("42", thoughts="Adding 40 and 2."))
    items, _ = drain(GeminiModel("k", MODEL), [ASK])  # not asked for: no summary, no thinking config
    assert items == ["42"] and not fake_gemini.generate_requests[1].body.get("generationConfig")


def test_a_thinking_level_is_refused_by_a_model_that_does_not_think(fake_gemini):
    fake_gemini.allow_violations = True
    fake_gemini.catalogue.append({"name": "gemini-plain", "displayName": "Plain", "thinking": False})
    with pytest.raises(ModelError) as info:
        drain(GeminiModel("k", "gemini-plain", thinking="high"), [ASK])
    assert "Thinking level is not supported" in str(info.value)
