"""The Chat page against the fake Gemini server: streaming, tool calls, attachments, errors, history."""

from __future__ import annotations

import pytest

from delta3_core import history, keys
from delta3_core.storage.base import Message
from delta3_core.web import chat as chatview
from delta3_core.workspace import Workspace
from tests.fixtures.gemini import gemini_call, gemini_calls, gemini_error, gemini_text

KEY = "AIzaSyTest-0123456789abcdefghij"
CALCULATOR = "def add(a, b):\n    return a + b\n"


@pytest.fixture
def keyed_user(web_user, web_services):
    keys.set_gemini_key(web_services.backend, web_user.user_id, KEY)
    return web_user


def texts(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_without_a_key_the_page_points_to_settings_and_input_is_off(web_app, web_user):
    at = web_app(user=web_user)
    assert "add your Google Gemini API key" in at.info[0].value
    assert at.chat_input[0].proto.disabled


def test_answer_with_a_tool_call_shows_code_output_and_usage(web_app, keyed_user, web_services, fake_gemini):
    fake_gemini.enqueue(
        gemini_calls(gemini_call("write_file", {"path": "calculator.py", "content": CALCULATOR}),
                     text="I'll write it.", prompt_tokens=120, output_tokens=30),
        gemini_text("Created calculator.py with add().", prompt_tokens=200, output_tokens=15))
    at = web_app(user=keyed_user)
    at.chat_input[0].set_value("Create a calculator module").run()
    assert not at.exception and not at.error
    status = at.status[0]
    assert status.label == "Wrote calculator.py"
    assert any("def add(a, b)" in c.value for c in status.code)
    assert "Created calculator.py with add()." in texts(at)
    assert any("320 tokens in · 45 out" in c.value for c in at.caption)
    assert fake_gemini.generate_requests[0].api_key == KEY
    ws = Workspace(web_services.backend, keyed_user.user_id, web_services.settings.quota_bytes)
    assert ws.read_text("calculator.py") == CALCULATOR
    # The turn is history now: a fresh session shows it, tool call included.
    again = web_app(user=keyed_user)
    assert "Create a calculator module" in texts(again) and again.expander[0].label == "Wrote calculator.py"


def test_gemini_errors_are_one_plain_sentence(web_app, keyed_user, fake_gemini):
    fake_gemini.enqueue(gemini_error(429))
    at = web_app(user=keyed_user)
    at.chat_input[0].set_value("Hello").run()
    assert len(at.error) == 1
    message = at.error[0].value
    assert message.endswith(".") and "Traceback" not in message and "{" not in message


def test_attachments_are_saved_and_mentioned_to_the_model(web_app, keyed_user, web_services, fake_gemini):
    fake_gemini.enqueue(gemini_text("Got your data."))
    at = web_app(user=keyed_user)
    at.chat_input[0].upload("data.csv", b"a,b\n1,2\n", "text/csv").upload("notes.txt", b"hi", "text/plain")
    at.chat_input[0].set_value("Look at these").run()
    ws = Workspace(web_services.backend, keyed_user.user_id, web_services.settings.quota_bytes)
    assert ws.read_text("uploads/data.csv") == "a,b\n1,2\n" and ws.read_text("uploads/notes.txt") == "hi"
    sent = " ".join(fake_gemini.generate_requests[0].texts())
    assert "uploads/data.csv" in sent and "uploads/notes.txt" in sent
    assert any("Attached: uploads/data.csv, uploads/notes.txt" in c.value for c in at.caption)


def test_attachment_with_an_existing_name_does_not_overwrite(web_services, web_user):
    ws = Workspace(web_services.backend, web_user.user_id, web_services.settings.quota_bytes)
    ws.write_text("uploads/a.txt", "old")
    assert chatview.attachment_path(ws, "a.txt") == "uploads/a (2).txt"
    assert chatview.attachment_path(ws, "../../etc/passwd") == "uploads/passwd"


def test_clear_chat_deletes_the_conversation(web_app, keyed_user, web_services):
    history.append(web_services.backend, keyed_user.user_id,
                   [Message("user", "old question"), Message("assistant", "old answer")])
    at = web_app(user=keyed_user)
    assert "old answer" in texts(at)
    next(b for b in at.button if b.label == "Delete messages").click().run()
    assert "old answer" not in texts(at)
    assert history.recent(web_services.backend, keyed_user.user_id) == []


def test_images_made_by_a_run_show_inline(web_app, keyed_user, web_services):
    ws = Workspace(web_services.backend, keyed_user.user_id, web_services.settings.quota_bytes)
    ws.write_text("plot.svg", '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>')
    history.append(web_services.backend, keyed_user.user_id,
                   [Message("user", "plot"), Message("assistant", "Here it is.", meta={"images": ["plot.svg"]})])
    at = web_app(user=keyed_user)
    assert len(at.image) == 1


def test_usage_format_and_grouping():
    assert chatview.format_usage({"tokens_in": 1234, "tokens_out": 5}) == "1,234 tokens in · 5 out"
    assert chatview.format_usage({"tokens_in": 9, "tokens_out": 1500, "thinking_tokens": 1400}) == (
        "9 tokens in · 1,500 out (1,400 thinking)")
    assert chatview.format_usage({}) == ""
    turns = chatview.group_turns([Message("user", "q"), Message("tool", "r"), Message("assistant", "a"),
                                  Message("user", "q2")])
    assert [(speaker, len(group)) for speaker, group in turns] == [("user", 1), ("assistant", 2), ("user", 1)]


def test_a_run_that_draws_a_picture_shows_it_in_the_answer(web_app, keyed_user, fake_gemini, require_sandbox):
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>'
    fake_gemini.enqueue(gemini_calls(gemini_call("execute_shell", {"command": f"printf '{svg}' > plot.svg"})),
                        gemini_text("Here is your plot."))
    at = web_app(user=keyed_user)
    at.chat_input[0].set_value("Draw a square").run()
    assert not at.error, [e.value for e in at.error]
    assert at.status[0].label.startswith("Ran `printf") and any("plot.svg" in c.value for c in at.status[0].code)
    assert len(at.image) == 1  # once, with the answer (not only inside the folded tool box)


def test_the_unsafe_opt_in_is_shown_on_chat_and_settings(web_app, keyed_user, monkeypatch):
    monkeypatch.setenv("DELTA3_UNSAFE_NO_SANDBOX", "true")
    at = web_app(user=keyed_user)
    assert any("WITHOUT a sandbox" in w.value for w in at.warning)
    at.switch_page("app_pages/settings.py").run()
    assert any("WITHOUT a sandbox" in c.value for c in at.caption)


def test_a_missing_sandbox_is_explained_and_settings_say_code_runs_sandboxed(web_app, keyed_user, monkeypatch):
    from delta3_core.executor.local import probe as sandbox

    at = web_app(user=keyed_user)
    assert not at.warning
    at.switch_page("app_pages/settings.py").run()
    assert any("bubblewrap sandbox" in c.value for c in at.caption)
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: None)
    at.switch_page("app_pages/chat.py").run()
    assert any("bubblewrap (bwrap) is not installed" in w.value for w in at.warning)


def _kinds(block) -> list[str]:
    """The element types in a chat bubble, top to bottom ('markdown', 'expander', ...)."""
    return [child.type for _, child in sorted(block.children.items())]


def test_a_reloaded_answer_keeps_its_text_before_the_tool_calls_it_announced(web_app, keyed_user, fake_gemini):
    fake_gemini.enqueue(
        gemini_calls(gemini_call("write_file", {"path": "calculator.py", "content": CALCULATOR}),
                     text="I'll write the module first."),
        gemini_text("Done: calculator.py has add()."))
    web_app(user=keyed_user).chat_input[0].set_value("Create a calculator module").run()
    again = web_app(user=keyed_user)  # a new visit redraws the turn from history
    answer = again.chat_message[1]
    assert [m.value for m in answer.markdown] == ["I'll write the module first.", "Done: calculator.py has add()."]
    assert _kinds(answer)[:3] == ["markdown", "expander", "markdown"], _kinds(answer)


def test_interleave_puts_calls_at_their_place_and_old_history_first():
    call = Message("tool", "ok", meta={"tool": "read_file", "at": 5})
    assert chatview.interleave([call], "Look.\n\nDone.") == ["Look.", call, "\n\nDone."]
    old = Message("tool", "ok", meta={"tool": "read_file"})
    assert chatview.interleave([old], "Done.") == [old, "Done."]


def test_a_matplotlib_chart_made_in_the_sandbox_shows_in_the_answer(web_app, keyed_user, fake_gemini,
                                                                     web_services, require_sandbox):
    chart = ("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
             "plt.plot([1, 2, 3], [1, 4, 9])\nplt.savefig('chart.png')\nprint('saved')")
    fake_gemini.enqueue(gemini_calls(gemini_call("execute_python", {"code": chart})), gemini_text("Here it is."))
    at = web_app(user=keyed_user)
    at.chat_input[0].set_value("Plot squares").run()
    assert at.status[0].label == "Ran Python code", [c.value for c in at.status[0].code]
    assert len(at.image) == 1
    ws = Workspace(web_services.backend, keyed_user.user_id, web_services.settings.quota_bytes)
    assert ws.read_bytes("chart.png").startswith(b"\x89PNG")


def test_tool_labels_say_what_happened_in_words():
    assert chatview.tool_label("execute_python", {"code": "1/0"}, "failed") == "Running Python code failed"
    assert chatview.tool_label("execute_shell", {"command": "pytest -q\nls"}, "running") == "Running `pytest -q …`…"
    assert chatview.tool_label("read_file", {"path": "__init__.py"}, "ok") == "Read \\_\\_init\\_\\_.py"
    assert chatview.tool_label("list_files", {"path": "."}, "ok") == "Listed files"


def test_an_empty_chat_offers_starters_and_no_clear_button(web_app, keyed_user, fake_gemini):
    fake_gemini.enqueue(gemini_text("Sure, here is a calculator."))
    at = web_app(user=keyed_user)
    assert not any(b.label == "Delete messages" for b in at.button)  # no "Clear chat" for an empty chat
    next(b for b in at.button if b.label == chatview.STARTERS[0]).click().run()
    assert chatview.STARTERS[0] in texts(at) and "Sure, here is a calculator." in texts(at)
    assert fake_gemini.generate_requests[0].texts()[-1].startswith(chatview.STARTERS[0])
    again = web_app(user=keyed_user)
    assert not any(b.label == chatview.STARTERS[0] for b in again.button)
    assert any(b.label == "Delete messages" for b in again.button)


def test_a_failed_answer_stays_an_error_after_reload_without_a_zero_usage_line(web_app, keyed_user, fake_gemini):
    fake_gemini.default_reply = gemini_error(429)
    live = web_app(user=keyed_user).chat_input[0].set_value("Hello").run()
    again = web_app(user=keyed_user)
    assert [e.value for e in again.error] == [e.value for e in live.error]
    assert "rate limit" in again.error[0].value
    assert not any("tokens in" in c.value for c in again.main.caption)  # (the sidebar has the daily total)


def test_an_answer_stopped_mid_stream_keeps_the_question_in_history(keyed_user, web_services, fake_gemini,
                                                                     monkeypatch):
    from delta3_core import agent

    class Stopped(Exception):  # what Streamlit raises inside a script when the page reloads mid-answer
        pass

    def stop(self, delta):
        raise Stopped

    fake_gemini.enqueue(gemini_text("A long answer that the user never waits for."))
    monkeypatch.setattr(chatview._LiveText, "add", stop)
    ws = Workspace(web_services.backend, keyed_user.user_id, web_services.settings.quota_bytes)
    events = agent.chat(web_services, keyed_user.user_id, "Still there?", channel="web")
    with pytest.raises(Stopped):
        chatview.stream_answer(ws, events)
    saved = history.recent(web_services.backend, keyed_user.user_id)
    assert [m.content for m in saved if m.role == "user"] == ["Still there?"]


def test_thinking_shows_folded_away_with_parallel_calls_and_thinking_tokens(web_app, keyed_user, web_services,
                                                                           fake_gemini):
    fake_gemini.enqueue(
        gemini_calls(gemini_call("write_file", {"path": "a.py", "content": "A = 1\n"}),
                     gemini_call("write_file", {"path": "b.py", "content": "B = 2\n"}),
                     thoughts="Two small modules.", thoughts_tokens=50),
        gemini_text("Both files are written.", prompt_tokens=200, output_tokens=10, thoughts_tokens=40))
    at = web_app(user=keyed_user)
    at.chat_input[0].set_value("Write a.py and b.py").run()
    assert not at.exception and not at.error
    thinking = [e for e in at.expander if e.label == "Thinking"]
    assert len(thinking) == 1 and "Two small modules." in thinking[0].markdown[0].value
    assert sum("Two small modules." in m.value for m in at.markdown) == 1  # only there, not in the answer
    assert any("(90 thinking)" in c.value for c in at.caption)
    assert fake_gemini.violations == [] and len(fake_gemini.generate_requests[1].function_responses) == 2
    again = web_app(user=keyed_user)  # from history: still folded away under "Thinking"
    assert [e.label for e in again.expander][:1] == ["Thinking"]
    assert "Two small modules." in again.expander[0].markdown[0].value
