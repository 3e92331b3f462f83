"""REST API /chat: a turn as JSON and as server-sent events, idempotent retries, history and clear."""

from __future__ import annotations

import json

import pytest

from delta3_core import keys
from tests.fixtures.gemini import gemini_call, gemini_calls, gemini_error, gemini_text


@pytest.fixture
def keyed(api, api_user):
    """ada, with a Gemini key saved."""
    user = api.services.backend.records.find_user_by_email("ada@example.com")
    keys.set_gemini_key(api.services.backend, user.user_id, "AIzaSyTestKey-0123456789")
    return api_user


def _events(text: str) -> list[tuple[str, dict]]:
    found = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], json.loads(lines["data"])))
    return found


def test_send_answers_json_with_tools_files_and_usage(api, keyed, fake_gemini):
    fake_gemini.enqueue(gemini_calls(gemini_call("write_file", {"path": "hi.py", "content": "print('hi')\n"})),
                        gemini_text("I wrote hi.py.", prompt_tokens=120, output_tokens=7))
    response = keyed.post("/chat/send", json={"message": "Write hi.py"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["reply"] == "I wrote hi.py."
    assert answer["tool_calls"] == [{"name": "write_file", "arguments": {"path": "hi.py", "content": "print('hi')\n"},
                                     "ok": True, "output": answer["tool_calls"][0]["output"]}]
    assert answer["files_changed"] == ["hi.py"]
    assert answer["usage"]["tokens_out"] >= 7 and answer["usage"]["model_calls"] == 2
    assert keyed.post("/files/read", json={"path": "hi.py"}).json()["content"] == "print('hi')\n"
    messages = keyed.get("/chat/history").json()["messages"]
    assert [m["role"] for m in messages] == ["user", "tool", "assistant"]
    assert {m["channel"] for m in messages} == {"api"}


def test_send_streams_typed_events_and_final_carries_the_answer(keyed, fake_gemini):
    fake_gemini.enqueue(gemini_calls(gemini_call("write_file", {"path": "a.txt", "content": "A"})),
                        gemini_text("Done: a.txt is saved."))
    response = keyed.post("/chat/send", json={"message": "Save a.txt"}, headers={"Accept": "text/event-stream"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = _events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "tool_started" and "tool_finished" in names and names[-1] == "final"
    assert names.index("tool_started") < names.index("tool_finished") < names.index("text")
    assert events[0][1]["arguments"] == {"path": "a.txt", "content": "A"}
    final = events[-1][1]
    assert final["reply"] == "".join(data["text"] for name, data in events if name == "text")
    assert final["files_changed"] == ["a.txt"] and final["error"] is None


def test_turn_without_a_key_is_a_problem_saying_how_to_fix_it(api_user):
    response = api_user.post("/chat/send", json={"message": "hello"})
    assert response.status_code == 409
    assert "/auth/gemini-key" in response.json()["detail"]


def test_gemini_failure_streams_an_error_then_final(keyed, fake_gemini):
    for _ in range(4):
        fake_gemini.enqueue(gemini_error(400))
    response = keyed.post("/chat/send", json={"message": "hi"}, headers={"Accept": "text/event-stream"})
    events = _events(response.text)
    assert [name for name, _ in events][-2:] == ["error", "final"]
    assert events[-1][1]["error"]["message"] == events[-2][1]["message"]


def test_idempotency_key_replays_the_first_answer_without_a_second_turn(keyed, fake_gemini):
    fake_gemini.enqueue(gemini_text("Only once."))
    headers = {"Idempotency-Key": "retry-123"}
    first = keyed.post("/chat/send", json={"message": "hi"}, headers=headers)
    again = keyed.post("/chat/send", json={"message": "hi"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert len(fake_gemini.generate_requests) == 1
    assert len(keyed.get("/chat/history").json()["messages"]) == 2
    streamed = keyed.post("/chat/send", json={"message": "hi"}, headers={**headers, "Accept": "text/event-stream"})
    assert _events(streamed.text) == [("final", first.json())]
    other = keyed.post("/chat/send", json={"message": "something else"}, headers=headers)
    assert other.status_code == 422


def test_idempotency_keys_are_per_account(api, keyed, api_other, fake_gemini):
    fake_gemini.enqueue(gemini_text("For ada."))
    keyed.post("/chat/send", json={"message": "hi"}, headers={"Idempotency-Key": "k"})
    response = api_other.post("/chat/send", json={"message": "hi"}, headers={"Idempotency-Key": "k"})
    assert response.status_code == 409 and "/auth/gemini-key" in response.json()["detail"]  # ran: bob has no key


@pytest.mark.parametrize("body", [{"message": ""}, {"message": "x" * 32_001}, {"text": "hi"}, {"message": 5}])
def test_bad_messages_are_422(keyed, body):
    assert keyed.post("/chat/send", json=body).status_code == 422


def test_history_pages_back_and_clear_forgets(api, keyed, fake_gemini):
    for n in range(3):
        fake_gemini.enqueue(gemini_text(f"answer {n}"))
        keyed.post("/chat/send", json={"message": f"question {n}"})
    newest = keyed.get("/chat/history", params={"limit": 4}).json()
    assert [m["content"] for m in newest["messages"]] == ["question 1", "answer 1", "question 2", "answer 2"]
    older = keyed.get("/chat/history", params={"limit": 4, "before": newest["next_before"]}).json()
    assert [m["content"] for m in older["messages"]] == ["question 0", "answer 0"]
    assert older["next_before"] is None
    assert keyed.get("/chat/history", params={"limit": 0}).status_code == 422
    assert keyed.post("/chat/clear").status_code == 204
    assert keyed.get("/chat/history").json() == {"messages": [], "next_before": None}


def test_events_arrive_while_the_turn_is_still_running(api, keyed, fake_gemini):
    # The model's second reply is held back: a tool event must reach the client before the turn ends
    # (a server buffering its output would send it only with the final answer, after the hold).
    fake_gemini.enqueue(gemini_calls(gemini_call("write_file", {"path": "a.txt", "content": "A"})),
                        gemini_text("Finally done.").later(60))
    user = api.services.backend.records.find_user_by_email("ada@example.com")
    with keyed.stream("POST", "/chat/send", json={"message": "go"}, headers={"Accept": "text/event-stream"}) as r:
        lines = r.iter_lines()
        while next(lines) != "event: tool_finished":
            pass
        assert api.services.backend.records.recent_messages(user.user_id, 10) == []  # the turn is not over
