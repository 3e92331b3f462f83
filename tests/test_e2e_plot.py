"""In real headless Chromium: a matplotlib run shows its chart inline and changes only plot.png (no caches)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.gemini import FakeGemini, gemini_call, gemini_calls, gemini_text
from tests.fixtures.storage import TEST_SECRET
from tests.fixtures.web import CHROMIUM, browser_user, launch_chromium, log_in_and_send

pytestmark = [pytest.mark.browser, pytest.mark.sandbox]

EMAIL, PASSWORD = "ada@example.com", "Analytical-Engine-1843"
KEY = "AIzaSyE2E-0123456789abcdefghijk"
TIMEOUT_MS = 60_000
PLOT = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.plot([1, 2, 3], [1, 4, 9])
plt.title("squares")
plt.savefig("plot.png")
print("saved")
"""


@pytest.fixture
def fake_server():
    server = FakeGemini()
    yield server
    server.close()


def test_a_plotting_run_shows_the_chart_and_changes_only_plot_png(live_app_factory, fake_server, tmp_path,
                                                                   require_sandbox):
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/setup.sh dev installs Debian's chromium")
    data_dir = tmp_path / "data"
    services, _user, workspace = browser_user(data_dir, EMAIL, PASSWORD, KEY)
    fake_server.enqueue(gemini_calls(gemini_call("execute_python", {"code": PLOT})),
                        gemini_text("Here is the chart."))
    app = live_app_factory(GOOGLE_GEMINI_BASE_URL=fake_server.base_url, DELTA3_SECRET_KEY=TEST_SECRET)

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        try:
            log_in_and_send(page, app.url, EMAIL, PASSWORD, "Plot the squares of 1 to 3")
            expect(page.get_by_text("Here is the chart.")).to_be_visible()
            chart = page.get_by_test_id("stImage").locator("img").first
            expect(chart).to_be_visible()
            assert page.evaluate("img => img.naturalWidth", chart.element_handle()) > 100  # a real picture
            expect(page.get_by_text("Changed 1 file")).to_be_visible()
            expect(page.get_by_text("Page not found")).to_have_count(0)
        except BaseException:
            shots = Path(__file__).resolve().parents[1] / "test-artifacts"
            shots.mkdir(exist_ok=True)
            page.screenshot(path=str(shots / "e2e-plot-failed.png"), full_page=True)
            raise
        finally:
            browser.close()
    found = sorted(str(p.relative_to(workspace)) for p in workspace.rglob("*"))
    assert found == ["plot.png"], found  # no .cache, fontconfig or matplotlib files beside it
    services.backend.records.close()
