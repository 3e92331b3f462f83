"""REST API GET /models and PATCH /auth/me (model, thinking), over real HTTP against the strict fake Gemini."""

from __future__ import annotations

import pytest

from delta3_core import accounts, keys
from tests.fixtures.gemini import gemini_call, gemini_calls, gemini_text

KEY = "AIzaSyApiModels-0123456789"


@pytest.fixture
def keyed(api, api_user, fake_gemini):
    """ada with a Gemini key saved (the fake answers for it)."""
    user_id = api_user.get("/auth/me").json()["id"]
    keys.set_gemini_key(api.services.backend, user_id, KEY)
    return api_user


def test_models_are_the_live_list_of_the_users_key(keyed, fake_gemini):
    body = keyed.get("/models").json()
    assert body["default"] == "gemini-3.8-flash"
    assert body["models"][0] == {"name": "gemini-3.8-flash", "display_name": "Gemini 3.8 Flash"}
    names = [m["name"] for m in body["models"]]
    assert "gemini-3.1-pro-preview" in names and "gemini-2.5-flash" not in names and "gemini-embedding-001" not in names
    assert [r.api_key for r in fake_gemini.requests if r.action == "list"] == [KEY]


def test_without_a_key_the_built_in_list_is_served(api, api_user, fake_gemini):
    body = api_user.get("/models").json()
    assert body["models"][0]["name"] == body["default"] == "gemini-3.8-flash"
    assert fake_gemini.requests == []


def test_models_needs_a_token(api):
    with api.client() as anonymous:
        assert anonymous.get("/models").status_code == 401


def test_patch_me_switches_to_a_listed_model_and_refuses_others_naming_them(keyed, fake_gemini):
    changed = keyed.patch("/auth/me", json={"model": "gemini-3.7-flash", "thinking": "high"})
    assert changed.status_code == 200
    assert (changed.json()["model"], changed.json()["thinking"]) == ("gemini-3.7-flash", "high")
    refused = keyed.patch("/auth/me", json={"model": "gemini-2.5-pro", "thinking": "low"})
    assert refused.status_code == 422 and refused.headers["Content-Type"].startswith("application/problem+json")
    detail = refused.json()["detail"]
    assert "gemini-2.5-pro is not a model" in detail and "gemini-3.8-flash" in detail
    bad_level = keyed.patch("/auth/me", json={"model": "gemini-3.5-flash", "thinking": "ludicrous"})
    assert bad_level.status_code == 422 and "minimal, low, medium, high" in bad_level.json()["detail"]
    me = keyed.get("/auth/me").json()
    assert (me["model"], me["thinking"]) == ("gemini-3.7-flash", "high")  # nothing of a refused change was kept
    assert keyed.patch("/auth/me", json={"thinking": None}).json()["thinking"] is None
    back = keyed.patch("/auth/me", json={"model": None}).json()
    assert back["model"] == "gemini-3.8-flash"
    assert keyed.patch("/auth/me", json={"modle": "x"}).status_code == 422  # a typo is an error, not ignored
    assert keyed.patch("/auth/me", json={"model": 7}).status_code == 422


def test_a_chat_with_parallel_calls_passes_the_strict_fake_and_counts_thinking(api, keyed, fake_gemini):
    fake_gemini.enqueue(
        gemini_calls(gemini_call("write_file", {"path": "a.py", "content": "A = 1\n"}),
                     gemini_call("write_file", {"path": "b.py", "content": "B = 2\n"}), thoughts_tokens=60),
        gemini_text("Wrote both.", output_tokens=5, thoughts_tokens=15, thoughts="Check they exist."))
    answer = keyed.post("/chat/send", json={"message": "write a.py and b.py"}).json()
    assert answer["reply"] == "Wrote both." and sorted(answer["files_changed"]) == ["a.py", "b.py"]
    assert answer["usage"]["thinking_tokens"] == 75 and answer["usage"]["tokens_out"] == 20 + 5 + 75
    assert fake_gemini.violations == [] and len(fake_gemini.generate_requests[1].function_responses) == 2


def test_a_retired_saved_model_is_replaced_in_an_api_chat_and_said_once(api, keyed, fake_gemini):
    user = api.services.backend.records.find_user_by_email("ada@example.com")
    accounts.set_model(api.services.backend, user.user_id, "gemini-2.5-flash")  # saved before it was retired
    fake_gemini.enqueue(gemini_text("Hello."), gemini_text("Hello again."))
    first = keyed.post("/chat/send", json={"message": "hi"}).json()
    assert first["reply"].startswith("(The model gemini-2.5-flash is no longer available") and first["error"] is None
    assert keyed.post("/chat/send", json={"message": "hi"}).json()["reply"] == "Hello again."
    assert keyed.get("/auth/me").json()["model"] == "gemini-3.8-flash"
