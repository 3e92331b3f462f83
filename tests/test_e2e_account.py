"""In real headless Chromium: forgot password (an operator's code), then delete the account from Settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.web import CHROMIUM, launch_chromium
from tests.test_e2e_browser import TIMEOUT_MS, Steps, fill

pytestmark = pytest.mark.browser

EMAIL, PASSWORD, NEW_PASSWORD = "ada@example.com", "Difference-Engine-1822", "Analytical-Engine-1843"


def operator_code(data_dir: Path, email: str) -> str:
    """What the operator runs: `python -m delta3_core reset-password <email>` on the app's data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DELTA3_", "TWILIO_"))}
    done = subprocess.run([sys.executable, "-m", "delta3_core", "reset-password", email],
                          env={**env, "DELTA3_DATA_DIR": str(data_dir)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return re.search(r": (\d{6}) ", done.stdout).group(1)


def test_reset_password_then_delete_account(live_app_factory, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/setup.sh dev installs Debian's chromium")
    app = live_app_factory()
    data_dir = tmp_path / "data"
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        steps = Steps([page])
        try:
            _journey(page, app.url, data_dir, steps, expect)
        except BaseException:
            steps.shoot(f"account-failed-at-{steps.current}")
            raise
        finally:
            browser.close()


def _journey(page, url, data_dir, steps, expect):
    steps("register")
    page.goto(url)
    page.get_by_role("link", name=re.compile("Create an account")).click()
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    fill(page, "Email", EMAIL)
    fill(page, "Password", PASSWORD)
    fill(page, "Repeat password", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Chat")).to_be_visible()
    page.get_by_role("link", name="Log out").click()

    steps("forgot-password")
    page.get_by_role("link", name="Forgot password?").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    fill(page, "Email", EMAIL)
    page.get_by_role("button", name="Text me a code").click()
    expect(page.get_by_text("Ask the operator of this server for a code").first).to_be_visible()
    fill(page, "Code", operator_code(data_dir, EMAIL))
    fill(page, "New password", NEW_PASSWORD)
    fill(page, "Repeat new password", NEW_PASSWORD)
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_text("Your password is changed").first).to_be_visible()

    steps("log-in-with-the-new-password")
    page.get_by_role("link", name="Log in").first.click()
    fill(page, "Email", EMAIL)
    fill(page, "Password", NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Chat")).to_be_visible()
    assert len(list(data_dir.glob("users/*"))) <= 1

    steps("delete-account")
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("tab", name="Account").click()
    expect(page.get_by_role("heading", name="Delete account")).to_be_visible()
    fill(page, "Password", NEW_PASSWORD)
    fill(page, "Type your email address to confirm", EMAIL)
    page.get_by_role("button", name="Delete my account forever").click()
    expect(page.get_by_text("Your account and all its data are deleted.").first).to_be_visible()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()

    steps("the-account-is-gone")
    fill(page, "Email", EMAIL)
    fill(page, "Password", NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Wrong email or password.")).to_be_visible()
    assert list(data_dir.glob("users/*")) == []
    steps("done")
