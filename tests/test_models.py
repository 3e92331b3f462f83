"""The model list, the model and thinking choice, and retired models, against the strict fake Gemini."""

from __future__ import annotations

import pytest

from delta3_core import accounts, history
from delta3_core.agent import ThoughtDelta, chat, collect
from delta3_core.agent.models import FALLBACK, choose_model, choose_thinking, list_models
from delta3_core.config import DEFAULT_MODEL
from delta3_core.errors import ValidationError
from tests.agent_helpers import add_user, errors, kinds, make_services
from tests.fixtures.gemini import gemini_call, gemini_calls, gemini_error, gemini_text


@pytest.fixture
def services(tmp_path):
    services = make_services(tmp_path)
    yield services
    services.backend.records.close()


def list_calls(fake) -> int:
    return sum(r.action == "list" for r in fake.requests)


def generate_config(request) -> dict:
    config = (request.body.get("generationConfig") or {}).get("thinkingConfig") or {}
    return {k.replace("_", "").lower(): v for k, v in config.items()}


def test_the_default_is_a_current_model():
    assert DEFAULT_MODEL == "gemini-3.8-flash" == FALLBACK[0].name


def test_the_live_list_has_chat_models_with_display_names_default_first_and_is_cached(services, fake_gemini):
    alice = add_user(services, "alice", "key-alice")
    models = list_models(services, alice)
    assert models.live and models.default == DEFAULT_MODEL and models.names[0] == DEFAULT_MODEL
    assert models.display("gemini-3.7-flash") == "Gemini 3.7 Flash"
    assert {"gemini-3.1-pro-preview", "gemini-flash-latest"} <= set(models.names)
    for not_chat in ("gemini-embedding-001", "imagen-4.0-generate-001", "gemini-3.8-flash-tts",
                     "gemini-3.1-flash-image", "gemma-4-27b-it", "gemini-2.5-flash"):
        assert not_chat not in models.names
    assert models.as_dict()["models"][0] == {"name": DEFAULT_MODEL, "display_name": "Gemini 3.8 Flash"}
    list_models(services, alice)
    assert list_calls(fake_gemini) == 1  # cached
    accounts_key = [r.api_key for r in fake_gemini.requests if r.action == "list"]
    assert accounts_key == ["key-alice"]  # asked with the user's own key
    from delta3_core import keys

    keys.set_gemini_key(services.backend, alice, "key-alice-new")
    list_models(services, alice)
    assert list_calls(fake_gemini) == 2  # a new key may see other models: asked again


def test_without_a_key_or_when_google_fails_the_built_in_list_serves(services, fake_gemini):
    bob = add_user(services, "bob")
    assert list_models(services, bob).names == [m.name for m in FALLBACK] and list_calls(fake_gemini) == 0
    alice = add_user(services, "alice", "key-alice")
    fake_gemini.list_error = gemini_error(503, "The service is currently unavailable.")
    models = list_models(services, alice)
    assert not models.live and models.names == [m.name for m in FALLBACK]


def test_choose_model_accepts_a_listed_one_and_refuses_others_naming_what_is_available(services, fake_gemini):
    alice = add_user(services, "alice", "key-alice")
    assert choose_model(services, alice, "Gemini-3.1-Pro-Preview").model == "gemini-3.1-pro-preview"
    for refused in ("gemini-2.5-flash", "gemini-embedding-001", "gpt-4"):
        with pytest.raises(ValidationError) as info:
            choose_model(services, alice, refused)
        assert f"{refused} is not a model" in str(info.value) and "gemini-3.8-flash, " in str(info.value)
    assert services.backend.records.get_user(alice).model == "gemini-3.1-pro-preview"  # unchanged
    assert choose_model(services, alice, DEFAULT_MODEL).model is None  # follows the server default
    assert choose_model(services, alice, "gemini-3.7-flash").model == "gemini-3.7-flash"
    assert choose_model(services, alice, "default").model is None


def test_choose_thinking(services, fake_gemini):
    alice = add_user(services, "alice", "key-alice")
    assert choose_thinking(services, alice, "HIGH").prefs["thinking"] == "high"
    with pytest.raises(ValidationError, match="minimal, low, medium, high"):
        choose_thinking(services, alice, "extreme")
    assert services.backend.records.get_user(alice).prefs["thinking"] == "high"
    assert "thinking" not in choose_thinking(services, alice, "").prefs


def test_a_fresh_account_chats_at_once_on_the_default(services, fake_gemini):
    alice = add_user(services, "alice", "key-alice")
    fake_gemini.enqueue(gemini_text("Hello!"))
    reply = collect(chat(services, alice, "hi", channel="sms"))
    assert reply.error is None and reply.text == "Hello!"
    assert [r.model for r in fake_gemini.generate_requests] == [DEFAULT_MODEL]


def test_a_retired_saved_model_moves_to_the_default_once_and_the_turn_is_answered(services, fake_gemini):
    alice = add_user(services, "alice", "key-alice")
    accounts.set_model(services.backend, alice, "gemini-2.5-pro")  # chosen back when it existed
    fake_gemini.enqueue(gemini_calls(gemini_call("list_files")), gemini_text("Your workspace is empty."),
                        gemini_text("Still here."))
    first = collect(chat(services, alice, "what files do I have?", channel="sms"))
    assert first.error is None
    assert first.text.startswith("(The model gemini-2.5-pro is no longer available, so you are now on "
                                 "gemini-3.8-flash.)") and first.text.endswith("Your workspace is empty.")
    assert services.backend.records.get_user(alice).model is None
    second = collect(chat(services, alice, "thanks", channel="sms"))
    assert second.text == "Still here."  # told once
    assert {r.model for r in fake_gemini.generate_requests} == {DEFAULT_MODEL}


def test_a_model_retired_after_the_list_was_cached_answers_404_and_the_turn_moves_on(services, fake_gemini):
    alice = add_user(services, "alice", "key-alice")
    choose_model(services, alice, "gemini-3.5-flash")
    fake_gemini.retire("gemini-3.5-flash")  # the cached list still shows it
    fake_gemini.enqueue(gemini_text("Answered anyway."))
    events = list(chat(services, alice, "hello"))
    assert kinds(events) == ["text", "final"] and not errors(events)
    assert "no longer available" in events[-1].text and events[-1].text.endswith("Answered anyway.")
    assert [r.model for r in fake_gemini.generate_requests] == ["gemini-3.5-flash", DEFAULT_MODEL]
    assert services.backend.records.get_user(alice).model is None
    saved = history.recent(services.backend, alice)
    assert [m.role for m in saved] == ["user", "assistant"] and saved[0].content == "hello"


def test_a_retired_server_default_gives_way_to_a_current_model(tmp_path, fake_gemini):
    services = make_services(tmp_path, model="gemini-2.5-flash")
    alice = add_user(services, "alice", "key-alice")
    assert list_models(services, alice).default == DEFAULT_MODEL
    fake_gemini.enqueue(gemini_text("Hi."), gemini_text("Hi again."))
    assert collect(chat(services, alice, "hi")).text == "Hi."  # no note: the user chose nothing
    assert collect(chat(services, alice, "hi")).text == "Hi again."
    # One refused call, then straight to a listed model.
    assert [r.model for r in fake_gemini.generate_requests] == ["gemini-2.5-flash", DEFAULT_MODEL, DEFAULT_MODEL]
    services.backend.records.close()


def test_thinking_level_and_thought_summaries_on_the_web_never_on_sms(services, fake_gemini):
    alice = add_user(services, "alice", "key-alice")
    choose_thinking(services, alice, "high")
    fake_gemini.enqueue(gemini_text("4", thoughts="2 and 2 make 4.", thoughts_tokens=30),
                        gemini_text("4", thoughts="2 and 2 make 4.", thoughts_tokens=30))
    events = list(chat(services, alice, "2+2?", channel="web"))
    assert "".join(e.text for e in events if isinstance(e, ThoughtDelta)) == "2 and 2 make 4."
    assert events[-1].text == "4" and events[-1].usage["thinking_tokens"] == 30
    assert history.recent(services.backend, alice)[-1].meta["thoughts"] == "2 and 2 make 4."
    sms = collect(chat(services, alice, "2+2?", channel="sms"))
    assert sms.text == "4" and "2 and 2" not in sms.text
    web_request, sms_request = fake_gemini.generate_requests
    assert generate_config(web_request) == {"thinkinglevel": "HIGH", "includethoughts": True}
    assert generate_config(sms_request) == {"thinkinglevel": "HIGH"}
    assert "2 and 2" not in " ".join(sms_request.texts())  # thoughts are never replayed as what it said


def test_a_model_that_does_not_think_gets_no_thinking_settings(services, fake_gemini):
    fake_gemini.catalogue.append({"name": "gemini-plain", "displayName": "Gemini Plain", "thinking": False})
    alice = add_user(services, "alice", "key-alice")
    choose_model(services, alice, "gemini-plain")
    choose_thinking(services, alice, "low")
    fake_gemini.enqueue(gemini_text("ok"))
    assert collect(chat(services, alice, "hi")).text == "ok"
    assert generate_config(fake_gemini.generate_requests[0]) == {}


def test_thoughts_of_each_model_round_are_kept_as_paragraphs(services, fake_gemini):
    alice = add_user(services, "alice", "key-alice")
    fake_gemini.enqueue(gemini_calls(gemini_call("list_files"), thoughts="First look around."),
                        gemini_text("Empty.", thoughts="Nothing there."))
    events = list(chat(services, alice, "what is here?", channel="web"))
    assert "".join(e.text for e in events if isinstance(e, ThoughtDelta)) == "First look around.\n\nNothing there."
    assert history.recent(services.backend, alice)[-1].meta["thoughts"] == "First look around.\n\nNothing there."
