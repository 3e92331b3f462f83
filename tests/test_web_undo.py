"""Undo on the web pages (AppTest): a turn's changed files, its diff, the undo button, and file history."""

from __future__ import annotations

import pytest

from delta3_core import history, keys
from delta3_core.checkpoints import Recorder
from delta3_core.workspace import Workspace
from tests.fixtures.gemini import gemini_call, gemini_calls, gemini_text

KEY = "AIzaSyTest-0123456789abcdefghij"


@pytest.fixture
def keyed_user(web_user, web_services):
    keys.set_gemini_key(web_services.backend, web_user.user_id, KEY)
    return web_user


@pytest.fixture
def ws(web_services, web_user):
    return Workspace(web_services.backend, web_user.user_id, web_services.settings.quota_bytes)


def button(at, label):
    return next(b for b in at.button if b.label == label)


def test_a_turn_shows_its_changed_files_diff_and_undo_button(web_app, keyed_user, ws, fake_gemini):
    ws.write_text("calc.py", "def add(a, b):\n    return a - b\n")
    fake_gemini.enqueue(
        gemini_calls(gemini_call("write_file", {"path": "calc.py", "content": "def add(a, b):\n    return a + b\n"}),
                     gemini_call("write_file", {"path": "test_calc.py", "content": "assert True\n"})),
        gemini_text("Fixed add()."))
    at = web_app(user=keyed_user)
    at.chat_input[0].set_value("Fix add").run()
    assert not at.exception
    assert any(e.label == "Changed 2 files: calc.py, test\\_calc.py" for e in at.expander)
    assert button(at, "Undo these changes")
    at.toggle(key=next(t.key for t in at.toggle if t.label == "Show the changes")).set_value(True).run()
    diffs = "\n".join(c.value for c in at.code if c.language == "diff")
    assert "-    return a - b" in diffs and "+    return a + b" in diffs and "+assert True" in diffs

    button(at, "Undo these changes").click().run()
    assert not at.exception
    assert ws.read_text("calc.py") == "def add(a, b):\n    return a - b\n" and not ws.exists("test_calc.py")
    assert any("undone" in c.value for c in at.caption)
    assert not [b for b in at.button if b.label == "Undo these changes"]
    assert "restored calc.py, test_calc.py" in history.recent(ws.backend, keyed_user.user_id)[-1].content


def test_files_page_lists_earlier_versions_and_restores_one(web_app, web_user, web_services, ws):
    ws.write_text("notes.md", "first\n")
    recorder = Recorder(web_services, web_user.user_id, "web", "rewrite the notes")
    with recorder.changing(["notes.md"]):
        ws.write_text("notes.md", "second\n")
    recorder.commit()
    at = web_app(user=web_user, page="app_pages/files.py")
    at.toggle(key="versions-notes.md").set_value(True).run()
    assert not at.exception
    picker = at.selectbox(key="version-notes.md")
    assert len(picker.options) == 1 and 'turn "rewrite the notes" · 6 B' in picker.options[0]
    diffs = "\n".join(c.value for c in at.code if c.language == "diff")
    assert "-second" in diffs and "+first" in diffs
    button(at, "Restore this version").click().run()
    assert ws.read_text("notes.md") == "first\n"
