"""In real headless Chromium: a chat turn changes files, the answer shows them, and its Undo button reverts them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures.gemini import FakeGemini, gemini_call, gemini_calls, gemini_text
from tests.fixtures.storage import TEST_SECRET
from tests.fixtures.web import CHROMIUM, browser_user, launch_chromium, log_in_and_send

pytestmark = pytest.mark.browser

EMAIL, PASSWORD = "ada@example.com", "Analytical-Engine-1843"
KEY = "AIzaSyE2E-0123456789abcdefghijk"
TIMEOUT_MS = 30_000


@pytest.fixture
def fake_server():
    server = FakeGemini()
    yield server
    server.close()


def test_undo_button_reverts_the_turn(live_app_factory, fake_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/setup.sh dev installs Debian's chromium")
    data_dir = tmp_path / "data"
    services, _user, workspace = browser_user(data_dir, EMAIL, PASSWORD, KEY)
    (workspace / "greet.py").write_text("print('hello')\n")
    fake_server.enqueue(
        gemini_calls(gemini_call("write_file", {"path": "greet.py", "content": "print('goodbye')\n"}),
                     gemini_call("write_file", {"path": "extra.py", "content": "x = 1\n"})),
        gemini_text("Changed the greeting."))
    app = live_app_factory(GOOGLE_GEMINI_BASE_URL=fake_server.base_url, DELTA3_SECRET_KEY=TEST_SECRET)

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        try:
            log_in_and_send(page, app.url, EMAIL, PASSWORD, "Say goodbye instead")
            expect(page.get_by_text("Changed the greeting.")).to_be_visible()
            changes = page.get_by_test_id("stExpander").filter(has_text="Changed 2 files")
            changes.get_by_text("Changed 2 files").click()
            changes.get_by_text("Show the changes").click()
            expect(page.get_by_text("+print('goodbye')")).to_be_visible()
            expect(page.get_by_text("-print('hello')")).to_be_visible()
            if os.environ.get("DELTA3_E2E_SHOTS"):
                shots = Path(__file__).resolve().parents[1] / "test-artifacts"
                shots.mkdir(exist_ok=True)
                page.screenshot(path=str(shots / "e2e-undo-diff.png"), full_page=True)
            assert (workspace / "greet.py").read_text() == "print('goodbye')\n"

            page.get_by_role("button", name="Undo these changes").click()
            expect(page.get_by_text("These changes were undone.")).to_be_visible()
            expect(page.get_by_text("restored extra.py, greet.py").first).to_be_visible()
            assert (workspace / "greet.py").read_text() == "print('hello')\n"
            assert not (workspace / "extra.py").exists()
        except BaseException:
            shots = Path(__file__).resolve().parents[1] / "test-artifacts"
            shots.mkdir(exist_ok=True)
            page.screenshot(path=str(shots / "e2e-undo-failed.png"), full_page=True)
            raise
        finally:
            browser.close()
    services.backend.records.close()
