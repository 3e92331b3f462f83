"""The agent end to end: real storage, real sandbox, real google-genai client, fake Gemini server."""

from __future__ import annotations

import pytest

from delta3_core import history, usage
from delta3_core.agent import Final, TextDelta, ToolStarted, chat, collect
from delta3_core.storage.base import Message
from delta3_core.workspace import Workspace
from tests.agent_helpers import add_user, errors, finished, kinds, make_services
from tests.fixtures.gemini import FakeReply, gemini_call, gemini_calls, gemini_text

CALCULATOR = '''def add(a, b):
    return a + b


def subtract(a, b):
    return a - b


def multiply(a, b):
    return a * b


def divide(a, b):
    return a / b
'''
POWER = CALCULATOR + '''

def power(base, exp):
    return base ** exp
'''
TEST_CALC = ("from calculator import *\n"
             "print(f'2+2={add(2, 2)}, 10-3={subtract(10, 3)}, 4*5={multiply(4, 5)}, 10/2={divide(10, 2)}')")


@pytest.fixture
def services(tmp_path):
    services = make_services(tmp_path)
    yield services
    services.backend.records.close()


@pytest.fixture
def alice(services):
    return add_user(services, "alice", "key-alice")


@pytest.mark.sandbox
def test_calculator_conversation_end_to_end(services, alice, fake_gemini):
    # Turn 1: "Create a calculator module and test it" -> write_file, execute_python, answer.
    fake_gemini.enqueue(
        gemini_calls(gemini_call("write_file", {"path": "calculator.py", "content": CALCULATOR}),
                     text="I'll create the module."),
        gemini_calls(gemini_call("execute_python", {"code": TEST_CALC})),
        gemini_text("Created calculator.py with add, subtract, multiply, divide. "
                    "Test results: 2+2=4, 10-3=7, 4*5=20, 10/2=5.0"))
    events = list(chat(services, alice, "Create a calculator module and test it"))
    assert kinds(events) == ["text", "tool:write_file", "done:write_file", "tool:execute_python",
                             "done:execute_python", "text", "final"]
    write, run = finished(events)
    assert write.ok and "calculator.py" in write.result
    assert run.ok and "2+2=4, 10-3=7, 4*5=20, 10/2=5.0" in run.result  # real output of the sandboxed run
    answer = events[-1]
    assert answer.text.startswith("I'll create the module.\n\nCreated calculator.py")
    # The model was shown each tool's real result.
    second, third = fake_gemini.generate_requests[1:3]
    assert "Wrote" in second.function_responses[-1]["response"]["output"]
    assert "2+2=4" in third.function_responses[-1]["response"]["output"]

    # Turn 2: "Now add a power function" -> read_file, write_file, run.
    fake_gemini.enqueue(
        gemini_calls(gemini_call("read_file", {"path": "calculator.py"})),
        gemini_calls(gemini_call("write_file", {"path": "calculator.py", "content": POWER})),
        gemini_calls(gemini_call("execute_python", {"code": "from calculator import power\n"
                                                            "print(f'2^3={power(2, 3)}')"})),
        gemini_text("Added power(base, exp). Test: 2^3=8"))
    events = list(chat(services, alice, "Now add a power function"))
    read, write, run = finished(events)
    assert read.ok and "def divide(a, b):" in read.result
    assert write.ok and run.ok and "2^3=8" in run.result
    # The follow-up carried turn 1: the request, the tool records, and the answer.
    follow_up = fake_gemini.generate_requests[3]
    sent = "\n".join(follow_up.texts())
    assert "Create a calculator module and test it" in sent
    assert '[tool call] write_file(path="calculator.py"' in sent
    assert "[tool call] execute_python(" in sent and "2+2=4" in sent
    assert "Test results: 2+2=4" in sent
    assert follow_up.texts()[-1] == "Now add a power function"
    assert "calculator.py" in follow_up.system_text  # the workspace listing

    assert "def power(base, exp):" in Workspace(services.backend, alice, 10**6).read_text("calculator.py")
    saved = history.recent(services.backend, alice)
    assert [m.role for m in saved] == ["user", "tool", "tool", "assistant", "user", "tool", "tool", "tool",
                                       "assistant"]
    assert saved[0].content == "Create a calculator module and test it"
    assert saved[-1].content == "Added power(base, exp). Test: 2^3=8"
    assert [m.meta["tool"] for m in saved if m.role == "tool"] == [
        "write_file", "execute_python", "read_file", "write_file", "execute_python"]


def test_only_the_newest_20_history_messages_are_sent(services, alice, fake_gemini):
    fake_gemini.enqueue(*(gemini_text(f"answer {i}") for i in range(31)))
    for i in range(30):
        assert collect(chat(services, alice, f"message {i}")).error is None
    collect(chat(services, alice, "message 30"))
    contents = fake_gemini.generate_requests[-1].contents
    assert len(contents) == 21
    assert contents[0] == {"role": "user", "parts": [{"text": "message 20"}]}
    assert contents[-2] == {"role": "model", "parts": [{"text": "answer 29"}]}
    assert contents[-1] == {"role": "user", "parts": [{"text": "message 30"}]}


def test_a_context_window_that_starts_mid_turn_still_starts_with_the_user(services, alice, fake_gemini):
    # Gemini refuses a conversation whose first turn is the model's: cutting the newest 20 messages out of
    # a tool-heavy history often starts at a tool record or an answer.
    history.append(services.backend, alice, [Message("user", "make files", "web")] + [
        Message("tool", "ok", "web", meta={"tool": "write_file", "args": {"path": f"f{i}.txt"}, "ok": True})
        for i in range(20)] + [Message("assistant", "Made 20 files.", "web")])
    fake_gemini.enqueue(gemini_text("Yes."))
    assert collect(chat(services, alice, "did it work?")).text == "Yes."
    contents = fake_gemini.generate_requests[-1].contents
    assert contents[0]["role"] == "user" and contents[-1] == {"role": "user", "parts": [{"text": "did it work?"}]}
    assert "[tool call] write_file(path=\"f19.txt\")" in str(contents)


def test_each_user_is_served_with_their_own_key_and_history(services, fake_gemini):
    alice = add_user(services, "alice", "key-alice")
    bob = add_user(services, "bob", "key-bob")
    fake_gemini.enqueue(gemini_text("hi alice"), gemini_text("hi bob"), gemini_text("again alice"))
    collect(chat(services, alice, "alice's secret plan"))
    collect(chat(services, bob, "hello from bob"))
    collect(chat(services, alice, "me again"))
    requests = fake_gemini.generate_requests
    assert [r.api_key for r in requests] == ["key-alice", "key-bob", "key-alice"]
    assert "alice's secret plan" not in str(requests[1].body)
    assert "alice's secret plan" in str(requests[2].body)


def test_a_chosen_model_is_used(services, alice, fake_gemini):
    from delta3_core import accounts

    accounts.set_model(services.backend, alice, "gemini-3.1-pro-preview")
    fake_gemini.enqueue(gemini_text("ok"))
    collect(chat(services, alice, "hi"))
    assert fake_gemini.generate_requests[0].model == "gemini-3.1-pro-preview"


@pytest.mark.parametrize(("overrides", "network"), [
    ({}, False),
    ({"sandbox_network": True}, True),
    ({"unsafe_no_sandbox": True}, True),
])
def test_the_model_is_told_whether_code_runs_have_network_access(tmp_path, fake_gemini, overrides, network):
    services = make_services(tmp_path, **overrides)
    user = add_user(services, "nina", "key-nina")
    fake_gemini.enqueue(gemini_text("ok"))
    collect(chat(services, user, "can you pip install requests?"))
    request = fake_gemini.generate_requests[0]
    said = request.system_text + " ".join(str(d) for d in request.body["tools"])
    assert ("no network" in said or "without network" in said) is not network
    assert ("have network access" in said) is network
    # either way it may install packages, and knows where they go
    assert "pip install <pkg>" in said and "npm install -g <pkg>" in said and ".delta3" in said


def test_text_streams_in_pieces_and_the_final_event_has_the_whole_answer(services, alice, fake_gemini):
    fake_gemini.enqueue(gemini_text("Here is a longer answer that arrives in several streamed pieces."))
    events = list(chat(services, alice, "hi"))
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 2
    assert "".join(deltas) == events[-1].text == "Here is a longer answer that arrives in several streamed pieces."


def test_system_instruction_names_the_tools_the_channel_and_the_files(services, alice, fake_gemini):
    Workspace(services.backend, alice, 10**6).write_text("notes/todo.txt", "buy milk")
    fake_gemini.enqueue(gemini_text("ok"), gemini_text("ok"))
    collect(chat(services, alice, "hi", channel="sms"))
    collect(chat(services, alice, "hi", channel="web"))
    sms, web = fake_gemini.generate_requests
    assert sms.function_names == ["execute_python", "execute_shell", "write_file", "read_file", "list_files",
                                  "delete_file"]
    assert "notes/todo.txt" in sms.system_text and "The user is on SMS" in sms.system_text
    assert "The user is on SMS" not in web.system_text and "renders Markdown" in web.system_text


def test_token_usage_is_recorded_per_turn_and_per_day(services, alice, fake_gemini):
    fake_gemini.enqueue(gemini_calls(gemini_call("list_files", {}), prompt_tokens=300, output_tokens=10,
                                     thoughts_tokens=40),
                        gemini_text("Your workspace is empty.", prompt_tokens=350, output_tokens=25, thoughts_tokens=5))
    reply = collect(chat(services, alice, "what files do I have?"))
    # Thinking is billed as output: it is in tokens_out, and counted on its own too.
    assert reply.usage == {"tokens_in": 650, "tokens_out": 80, "thinking_tokens": 45, "total_tokens": 730,
                           "model_calls": 2}
    today = usage.usage_today(services.backend, alice)
    # The store keeps thinking apart from the rest of the output; the day's total counts both.
    assert (today["tokens_in"], today["tokens_out"], today["tokens_thinking"], today["requests"]) == (650, 35, 45, 1)
    assert today["total_tokens"] == 730
    assert history.recent(services.backend, alice)[-1].meta["usage"]["total_tokens"] == 730


def test_several_calls_in_one_model_turn_all_run_and_all_answers_go_back(services, alice, fake_gemini):
    fake_gemini.enqueue(
        gemini_calls(gemini_call("write_file", {"path": "a.txt", "content": "A"}),
                     gemini_call("write_file", {"path": "b.txt", "content": "B"}),
                     gemini_call("list_files", {"path": "."})),
        gemini_text("Made two files."))
    events = list(chat(services, alice, "make a and b"))
    listing = finished(events)[2]
    assert "a.txt (1 bytes)" in listing.result and "b.txt (1 bytes)" in listing.result
    responses = fake_gemini.generate_requests[1].function_responses
    assert [r["name"] for r in responses] == ["write_file", "write_file", "list_files"]


def test_bad_arguments_and_unknown_tools_become_tool_errors_the_model_can_fix(services, alice, fake_gemini):
    fake_gemini.enqueue(
        gemini_calls(gemini_call("write_file", {"path": "a.py"}),
                     gemini_call("launch_rockets", {"count": 3}),
                     gemini_call("read_file", {"path": "../../etc/passwd"}),
                     gemini_call("read_file", {"path": 42})),
        gemini_calls(gemini_call("write_file", {"path": "a.py", "content": "print(1)"})),
        gemini_text("Fixed it."))
    events = list(chat(services, alice, "write a.py"))
    assert [f.ok for f in finished(events)] == [False, False, False, False, True]
    errors_sent = [r["response"]["error"] for r in fake_gemini.generate_requests[1].function_responses]
    assert "needs the argument 'content'" in errors_sent[0]
    assert "no tool named 'launch_rockets'" in errors_sent[1] and "write_file" in errors_sent[1]
    assert "outside your workspace" in errors_sent[2]
    assert "must be text" in errors_sent[3]
    assert events[-1] == Final("Fixed it.", events[-1].usage, [])


def test_the_step_limit_ends_the_turn_with_a_plain_message(tmp_path, fake_gemini):
    services = make_services(tmp_path, max_tool_steps=2)
    alice = add_user(services, "alice", "key-alice")
    fake_gemini.enqueue(gemini_calls(gemini_call("list_files", {})),
                        gemini_calls(gemini_call("list_files", {}), gemini_call("list_files", {})),
                        gemini_text("never asked for"))
    events = list(chat(services, alice, "loop forever"))
    assert sum(isinstance(e, ToolStarted) for e in events) == 2
    assert "stopped after 2 tool steps" in events[-1].text and isinstance(events[-1], Final)
    assert len(fake_gemini.generate_requests) == 2 and fake_gemini.pending() == 1
    assert history.recent(services.backend, alice)[-1].role == "assistant"


def test_a_reader_that_stops_early_still_leaves_the_message_saved(services, alice, fake_gemini):
    fake_gemini.enqueue(gemini_calls(gemini_call("list_files", {})), gemini_text("done"))
    events = chat(services, alice, "please list my files")
    for event in events:
        if isinstance(event, ToolStarted):
            break
    events.close()
    saved = history.recent(services.backend, alice)
    assert saved[0].content == "please list my files" and saved[-1].meta.get("interrupted")


def test_an_attached_picture_is_shown_to_the_model(services, alice, fake_gemini):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    Workspace(services.backend, alice, 10**6).write_bytes("photo.png", png)
    fake_gemini.enqueue(gemini_text("A tiny picture."))
    collect(chat(services, alice, "what is this?", channel="sms", attachments=["photo.png"]))
    parts = fake_gemini.generate_requests[0].contents[-1]["parts"]
    assert any("photo.png" in p.get("text", "") for p in parts)
    inline = [p["inlineData"] for p in parts if "inlineData" in p]  # google-genai sends mime_type unconverted
    assert len(inline) == 1 and "image/png" in (inline[0].get("mimeType"), inline[0].get("mime_type"))
    assert history.recent(services.backend, alice)[0].meta["attachments"] == ["photo.png"]


def test_an_empty_message_is_refused_without_calling_gemini(services, alice, fake_gemini):
    events = list(chat(services, alice, "   "))
    assert kinds(events) == ["error:empty_message"] and fake_gemini.requests == []


@pytest.mark.sandbox
def test_pictures_made_by_a_run_are_reported(services, alice, fake_gemini):
    code = "open('plot.png', 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n')\nopen('data.csv', 'w').write('1,2')"
    fake_gemini.enqueue(gemini_calls(gemini_call("execute_python", {"code": code})), gemini_text("Plotted."))
    events = list(chat(services, alice, "plot it"))
    assert finished(events)[0].images == ["plot.png"]
    assert events[-1].images == ["plot.png"] and not errors(events)


def test_blocked_prompt_and_empty_answer_are_distinguished(services, alice, fake_gemini):
    fake_gemini.enqueue(FakeReply(parts=[], finish_reason="STOP"))
    assert collect(chat(services, alice, "say nothing")).error_kind == "empty"


def test_file_tools_and_history_work_on_every_backend(backend, tmp_path, fake_gemini):
    from delta3_core.services import Services
    from tests.fixtures.storage import local_settings

    services = Services(local_settings(tmp_path), backend)
    carol = add_user(services, "carol", "key-carol")
    fake_gemini.enqueue(gemini_calls(gemini_call("write_file", {"path": "notes/a.md", "content": "# Notes"})),
                        gemini_calls(gemini_call("read_file", {"path": "notes/a.md"}),
                                     gemini_call("list_files", {"path": "notes"})),
                        gemini_text("Saved your notes."), gemini_text("You have notes/a.md."))
    events = list(chat(services, carol, "save my notes"))
    assert [(f.name, f.ok) for f in finished(events)] == [("write_file", True), ("read_file", True),
                                                          ("list_files", True)]
    assert finished(events)[1].result == "# Notes" and "notes/a.md (7 bytes)" in finished(events)[2].result
    collect(chat(services, carol, "what files do I have?"))
    assert "notes/a.md" in fake_gemini.generate_requests[-1].system_text
    assert [m.role for m in history.recent(services.backend, carol)] == [
        "user", "tool", "tool", "tool", "assistant", "user", "assistant"]


def test_check_key_for_the_settings_page(settings, fake_gemini):
    from delta3_core.agent import check_key
    from delta3_core.errors import ModelError

    fake_gemini.valid_keys = {"AIza-good"}
    check_key(settings, "AIza-good")
    with pytest.raises(ModelError, match="rejected that API key"):
        check_key(settings, "AIza-typo")


@pytest.mark.parametrize("pasted", ["my secret password 123", "ключ-ключ-ключ-ключ", "A" * 300])
def test_check_key_never_sends_something_that_cannot_be_a_key(settings, fake_gemini, pasted):
    from delta3_core.agent import check_key
    from delta3_core.errors import ValidationError

    with pytest.raises(ValidationError, match="Gemini API key"):
        check_key(settings, pasted)
    assert fake_gemini.requests == []
