"""REST API asynchronous chat turns: 202 with a turn id, GET /chat/turns/{id}, idempotent retries, privacy."""

from __future__ import annotations

import time

import pytest

from delta3_core import keys
from tests.fixtures.gemini import gemini_call, gemini_calls, gemini_text

ASYNC = {"Prefer": "respond-async"}


@pytest.fixture
def keyed(api, api_user):
    """ada, with a Gemini key saved."""
    user = api.services.backend.records.find_user_by_email("ada@example.com")
    keys.set_gemini_key(api.services.backend, user.user_id, "AIzaSyTestKey-0123456789")
    return api_user


def wait_done(client, turn_id: str, timeout: float = 30.0) -> dict:
    """Poll the turn (bounded) until it is done; its last state."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/chat/turns/{turn_id}")
        assert response.status_code == 200, response.text
        state = response.json()
        if state["status"] in ("done", "failed"):
            return state
        assert time.monotonic() < deadline, f"turn still {state['status']}"
        time.sleep(0.05)


def test_async_send_answers_202_and_the_turn_gives_the_same_json_as_send(keyed, fake_gemini):
    fake_gemini.enqueue(gemini_calls(gemini_call("write_file", {"path": "hi.py", "content": "print('hi')\n"})),
                        gemini_text("I wrote hi.py."))
    response = keyed.post("/chat/send", json={"message": "Write hi.py"}, headers=ASYNC)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] in ("pending", "running")
    assert response.headers["Location"] == accepted["status_url"] == f"/chat/turns/{accepted['turn_id']}"
    state = wait_done(keyed, accepted["turn_id"])
    answer = state["answer"]
    assert state["status"] == "done" and answer["reply"] == "I wrote hi.py." and answer["error"] is None
    assert answer["files_changed"] == ["hi.py"] and answer["tool_calls"][0]["name"] == "write_file"
    assert answer["usage"]["model_calls"] == 2
    assert [m["role"] for m in keyed.get("/chat/history").json()["messages"]] == ["user", "tool", "assistant"]


def test_async_turns_of_one_user_run_in_order(keyed, fake_gemini):
    fake_gemini.enqueue(gemini_text("first").later(0.3), gemini_text("second"))
    ids = [keyed.post("/chat/send", json={"message": m}, headers=ASYNC).json()["turn_id"] for m in ("one", "two")]
    assert [wait_done(keyed, turn_id)["answer"]["reply"] for turn_id in ids] == ["first", "second"]
    assert [r.contents[-1]["parts"][0]["text"] for r in fake_gemini.generate_requests] == ["one", "two"]


def test_a_retried_async_send_with_the_same_idempotency_key_is_the_same_turn(keyed, fake_gemini):
    fake_gemini.enqueue(gemini_text("once"))
    headers = {**ASYNC, "Idempotency-Key": "turn-42"}
    first = keyed.post("/chat/send", json={"message": "hello"}, headers=headers).json()["turn_id"]
    again = keyed.post("/chat/send", json={"message": "hello"}, headers=headers)
    assert again.status_code == 202 and again.json()["turn_id"] == first
    assert wait_done(keyed, first)["answer"]["reply"] == "once"
    assert len(fake_gemini.generate_requests) == 1
    other = keyed.post("/chat/send", json={"message": "something else"}, headers=headers)
    assert other.status_code == 422


def test_a_turn_is_only_visible_to_its_owner(keyed, api_other, fake_gemini):
    fake_gemini.enqueue(gemini_text("private"))
    turn_id = keyed.post("/chat/send", json={"message": "secret"}, headers=ASYNC).json()["turn_id"]
    wait_done(keyed, turn_id)
    assert api_other.get(f"/chat/turns/{turn_id}").status_code == 404
    assert keyed.get("/chat/turns/api-nope").status_code == 404
    assert keyed.get("/chat/turns/sms-SM123").status_code == 404


def test_the_openapi_document_describes_the_202_and_the_turn(api):
    import httpx

    document = httpx.get(api.base_url + "/openapi.json").json()
    send = document["paths"]["/chat/send"]["post"]["responses"]
    assert "202" in send and "200" in send
    assert "/chat/turns/{turn_id}" in document["paths"]


def test_an_async_turn_past_the_daily_limit_ends_with_the_limit_in_its_status(api, keyed, fake_gemini):
    from delta3_core import budget, usage

    user = api.services.backend.records.find_user_by_email("ada@example.com")
    budget.set_daily_limit(api.services, user.user_id, 1000)
    usage.record_usage(api.services.backend, user.user_id, 900, 100)
    accepted = keyed.post("/chat/send", json={"message": "one more?"}, headers=ASYNC)
    assert accepted.status_code == 202, accepted.text
    state = wait_done(keyed, accepted.json()["turn_id"])
    assert state["status"] == "done"
    error = state["answer"]["error"]
    assert error["kind"] == "daily_limit" and "daily limit of 1,000 tokens" in error["message"]
    assert state["answer"]["reply"] == "" and fake_gemini.generate_requests == []
    assert keyed.get("/chat/history").json()["messages"] == []  # refused once, nothing kept or run again
    assert api.services.backend.records.get_job(accepted.json()["turn_id"]).attempts == 1
