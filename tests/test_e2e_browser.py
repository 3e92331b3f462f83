"""End to end in real headless Chromium: register, log in, set a key, chat with tools, edit a file, log out.

The app runs as `streamlit run streamlit_app.py` on a free port with a fresh data dir and the fake
Gemini server; the sandbox is the real one. On failure a screenshot of every open page is saved in
test-artifacts/ (set DELTA3_E2E_SHOTS=1 to save one per step as well).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from delta3_core.web import auth as webauth
from tests.fixtures.gemini import FakeGemini, gemini_call, gemini_calls, gemini_text
from tests.fixtures.web import CHROMIUM, launch_chromium

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
EMAIL, PASSWORD = "grace@example.com", "Analytical-Engine-1843"
KEY = "AIzaSyE2E-0123456789abcdefghijk"
CALCULATOR = '''"""A tiny calculator."""


def add(a, b):
    return a + b


def divide(a, b):
    if b == 0:
        raise ValueError("cannot divide by zero")
    return a / b
'''
TEST_CODE = ("import calculator\nassert calculator.add(2, 3) == 5\nassert calculator.divide(8, 2) == 4\n"
             "print('4 tests passed')")
ADDED = "\n\ndef multiply(a, b):\n    return a * b\n"
TIMEOUT_MS = 30_000


class Steps:
    """Names each step, so a failure says where it happened and leaves screenshots behind."""

    def __init__(self, pages):
        self.pages, self.current, self.count = pages, "start", 0

    def __call__(self, name: str) -> None:
        if os.environ.get("DELTA3_E2E_SHOTS") and self.count:
            self.shoot(f"{self.count:02d}-after-{self.current}")
        self.current = name
        self.count += 1

    def shoot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        for index, page in enumerate(self.pages):
            if not page.is_closed():
                page.screenshot(path=str(ARTIFACTS / f"e2e-{name}-{index}.png"), full_page=True)


def wait_idle(page) -> None:
    """Wait until Streamlit has finished the current run."""
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=TIMEOUT_MS)


def fill(page, label: str, value: str) -> None:
    page.get_by_label(label, exact=True).fill(value)


@pytest.fixture
def fake_server():
    server = FakeGemini()
    server.valid_keys = {KEY}
    yield server
    server.close()
    assert server.violations == []  # every request would have passed the real API's checks


def test_full_journey(live_app_factory, fake_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/setup.sh dev installs Debian's chromium")

    app = live_app_factory(GOOGLE_GEMINI_BASE_URL=fake_server.base_url)
    fake_server.enqueue(
        gemini_calls(gemini_call("write_file", {"path": "calculator.py", "content": CALCULATOR}),
                     text="I'll write the module first."),
        gemini_calls(gemini_call("execute_python", {"code": TEST_CODE})),
        gemini_text("Done: **calculator.py** has `add` and `divide`, and all 4 tests pass."))
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        steps = Steps([page])
        try:
            _journey(page, context, browser, app.url, tmp_path / "data", steps, expect)
        except BaseException:
            steps.shoot(f"failed-at-{steps.current}")
            raise
        finally:
            browser.close()


def _journey(page, context, browser, url, data_dir, steps, expect):
    steps("register")
    page.goto(url)
    page.get_by_role("link", name=re.compile("Create an account")).click()
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()  # not the login form's Email
    fill(page, "Email", EMAIL)
    fill(page, "Password", PASSWORD)
    fill(page, "Repeat password", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Chat")).to_be_visible()
    expect(page.get_by_text("add your Google Gemini API key")).to_be_visible()

    steps("log-out-after-register")
    page.get_by_role("link", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()

    steps("log-in")
    fill(page, "Email", EMAIL)
    fill(page, "Password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Chat")).to_be_visible()
    _wait_for_cookie(page, context)

    steps("set-key")
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    fill(page, "Gemini API key", KEY)
    page.get_by_role("button", name="Check and save").click()
    expect(page.get_by_text("Your Gemini key works and is saved.")).to_be_visible()
    expect(page.get_by_text("AIza…hijk")).to_be_visible()
    assert KEY not in page.content()

    steps("settings-tab-stays")
    page.get_by_role("tab", name="Model").click()
    page.get_by_role("button", name="Use this model").click()
    wait_idle(page)
    expect(page.get_by_role("tab", name="Model")).to_have_attribute("aria-selected", "true")  # kept on rerun

    steps("chat")
    page.get_by_role("link", name="Chat").click()
    expect(page.get_by_role("heading", name="Chat")).to_be_visible()
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("Create a calculator module and test it")
    box.press("Enter")
    expect(page.get_by_text("all 4 tests pass")).to_be_visible()
    wait_idle(page)
    tools = page.get_by_test_id("stExpander")
    expect(tools.filter(has_text="Wrote calculator.py")).to_be_visible()
    run = tools.filter(has_text="Ran Python code")
    run.get_by_text("Ran Python code").click()  # open the collapsed status to see the code and its output
    expect(run.get_by_text("4 tests passed").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"tokens in · \d+ out")).first).to_be_visible()

    steps("files")
    page.get_by_role("link", name="Files").click()
    expect(page.get_by_role("heading", name="calculator.py")).to_be_visible()
    editor = page.frame_locator('iframe[title="code_editor.code_editor"]')
    expect(editor.get_by_text("cannot divide by zero")).to_be_visible()
    editor.locator(".ace_content").click()
    page.keyboard.press("Control+End")
    page.keyboard.insert_text(ADDED)  # as pasted: no auto-indent or completion popups in the way
    editor.get_by_text("Save").click()
    expect(page.get_by_text("Saved calculator.py.")).to_be_visible()
    saved = next(data_dir.glob("users/*/workspace/calculator.py"))
    assert saved.read_text() == CALCULATOR + ADDED

    steps("upload-after-an-error")
    page.get_by_role("button", name="New").click()
    fill(page, "Name", "../outside.py")
    page.get_by_role("button", name="Create file").click()
    expect(page.get_by_test_id("stAlert")).to_be_visible()
    page.get_by_role("button", name="Upload").first.click()
    popover = page.get_by_test_id("stPopoverBody")
    popover.locator('input[type="file"]').set_input_files([
        {"name": "a.txt", "mimeType": "text/plain", "buffer": b"alpha"},
        {"name": "b.csv", "mimeType": "text/csv", "buffer": b"x,y\n1,2\n"}])
    expect(page.get_by_test_id("stAlert")).to_have_count(0)  # the old error is gone, the popover still open
    popover.get_by_test_id("stButton").get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Uploaded 2 files.")).to_be_visible()
    assert (saved.parent / "b.csv").read_text() == "x,y\n1,2\n"

    steps("reload")
    page.reload()
    expect(page.get_by_role("link", name="Files")).to_be_visible()  # still logged in after a reload
    page.get_by_role("link", name="Files").click()
    page.get_by_role("combobox", name="Open file").click()  # a fresh visit opens the newest file (b.csv)
    page.get_by_role("option", name="calculator.py").click()
    expect(page.frame_locator('iframe[title="code_editor.code_editor"]').get_by_text("def multiply")).to_be_visible()

    steps("log-out")
    old_cookie = _session_cookie(context)
    page.get_by_role("link", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()

    steps("replay-old-cookie")
    fresh = browser.new_context(viewport={"width": 1280, "height": 860})
    fresh.add_cookies([{k: old_cookie[k] for k in ("name", "value", "domain", "path")}])
    replay = fresh.new_page()
    steps.pages.append(replay)
    replay.goto(url + "/workspace")  # a deep link to Files, with the old cookie
    expect(replay.get_by_role("button", name="Log in")).to_be_visible()
    expect(replay.get_by_role("link", name="Files")).to_have_count(0)

    steps("log-in-from-deep-link")
    fill(replay, "Email", EMAIL)
    fill(replay, "Password", PASSWORD)
    replay.get_by_role("button", name="Log in").click()
    expect(replay.get_by_role("heading", name="Files")).to_be_visible()  # lands where the link pointed
    steps("done")


def _session_cookie(context) -> dict:
    cookies = [c for c in context.cookies() if c["name"] == webauth.COOKIE_NAME and c["value"]]
    assert cookies, "the login cookie was not set"
    return cookies[0]


def _wait_for_cookie(page, context) -> None:
    for _ in range(50):
        if any(c["name"] == webauth.COOKIE_NAME and c["value"] for c in context.cookies()):
            return
        page.wait_for_timeout(100)
