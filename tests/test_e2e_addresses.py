"""In real headless Chromium: every address survives a reload, a bookmark and a fresh browser; the Files
editor lines up and its header follows a Save; Sign in with Google through st.login and a fake provider.

One app serves the whole module (started with an [auth] section pointing at tests/fixtures/oidc.py's
provider). Each check asserts that Streamlit's "Page not found" dialog is absent; on failure a screenshot
is saved in test-artifacts/.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import pytest

from delta3_core import accounts
from delta3_core.accounts import oidc
from delta3_core.config import load_settings
from delta3_core.services import build_services
from delta3_core.web import auth as webauth
from tests.fixtures.oidc import FakeOidcProvider
from tests.fixtures.storage import TEST_SECRET
from tests.fixtures.web import CHROMIUM, LiveApp, failed, launch_chromium

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
PASSWORD = "Analytical-Engine-1843"
TIMEOUT_MS = 30_000
STREAMLIT_IDENTITY = "_streamlit_user"
PUBLIC = {"": ("sign-in", "Log in"), "sign-in": ("sign-in", "Log in"), "sign-up": ("sign-up", "Create your account"),
          "sign-out": ("sign-in", "Log in")}
PRIVATE = {"ask": "Chat", "workspace": "Files", "account": "Settings"}


class Server:
    """The shared app, its data, and whether anyone has visited it yet."""

    def __init__(self, app: LiveApp, data_dir: Path, provider: FakeOidcProvider):
        self.app, self.url, self.provider, self.visited = app, app.url, provider, False
        self.services = build_services(load_settings(environ={}, data_dir=data_dir, secret_key=TEST_SECRET))

    def user(self, email: str):
        """A password account made directly in the app's store."""
        return accounts.register(self.services.backend, email, PASSWORD)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/setup.sh dev installs Debian's chromium")
    provider = FakeOidcProvider()
    data_dir = tmp_path_factory.mktemp("addresses") / "data"
    app = LiveApp(data_dir, {"DELTA3_SECRET_KEY": TEST_SECRET},
                  secrets=provider.secrets_toml("http://127.0.0.1:{port}/oauth2callback")).wait_ready()
    yield Server(app, data_dir, provider)
    app.stop()
    provider.close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def tab(browser, request):
    """A page in a fresh browser context (no cookies); a screenshot is saved if the test fails."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    if failed(request.node):
        ARTIFACTS.mkdir(exist_ok=True)
        for index, open_page in enumerate(context.pages):
            open_page.screenshot(path=str(ARTIFACTS / f"addresses-{request.node.name}-{index}.png"), full_page=True)
    context.close()


def wait_idle(page) -> None:
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=TIMEOUT_MS)


def visit(server: Server, page, path: str) -> None:
    server.visited = True
    page.goto(f"{server.url}/{path}")


def assert_on(page, server: Server, path: str, heading: str) -> None:
    """The page shows `heading` at address /`path`, with no "Page not found" dialog."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
    wait_idle(page)
    expect(page).to_have_url(f"{server.url}/{path}")
    expect(page.get_by_text("Page not found")).to_have_count(0)
    expect(page.get_by_role("dialog")).to_have_count(0)


def log_in(page, email: str, password: str = PASSWORD) -> None:
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in", exact=True).click()


def session_cookie(page) -> dict | None:
    for _ in range(50):  # the login cookie is written by a script in the page, just after the run
        found = [c for c in page.context.cookies() if c["name"] == webauth.COOKIE_NAME and c["value"]]
        if found:
            return found[0]
        page.wait_for_timeout(100)
    return None


@contextmanager
def fresh_server_if_visited(server: Server, tmp_path):
    """The shared server if nobody has visited it yet, else a new one: this check needs a just-started app."""
    if not server.visited:
        yield server
        return
    app = LiveApp(tmp_path / "data", {"DELTA3_SECRET_KEY": TEST_SECRET}).wait_ready()
    try:
        yield Server(app, tmp_path / "data", server.provider)
    finally:
        app.stop()


# ---------------------------------------------------------------- addresses

def test_the_first_visit_after_a_start_can_be_a_deep_link(server, tab, tmp_path):
    with fresh_server_if_visited(server, tmp_path) as fresh:
        visit(fresh, tab, "sign-up")
        assert_on(tab, fresh, "sign-up", "Create your account")


def test_logged_out_addresses_survive_a_reload(server, tab):
    for path, (lands_on, heading) in PUBLIC.items():
        visit(server, tab, path)
        assert_on(tab, server, lands_on, heading)
        tab.reload()
        assert_on(tab, server, lands_on, heading)
    for path in PRIVATE:  # a private address shows the login form, and keeps its address
        visit(server, tab, path)
        assert_on(tab, server, path, "Log in")
        tab.reload()
        assert_on(tab, server, path, "Log in")


def test_logged_in_addresses_survive_a_reload_a_bookmark_and_a_fresh_browser(server, tab, browser):
    server.user("reload@example.com")
    visit(server, tab, "sign-in")
    log_in(tab, "reload@example.com")
    assert_on(tab, server, "ask", "Chat")  # logging in on the login form's address leads to Chat
    cookie = session_cookie(tab)
    assert cookie, "the login cookie was not set"
    for path, heading in PRIVATE.items():
        tab.get_by_role("link", name=heading).click()
        assert_on(tab, server, path, heading)
        tab.reload()
        assert_on(tab, server, path, heading)
        visit(server, tab, path)  # a bookmark
        assert_on(tab, server, path, heading)
    for path in ("", "sign-in", "sign-up"):  # public addresses lead a logged-in user to Chat
        visit(server, tab, path)
        assert_on(tab, server, "ask", "Chat")

    fresh = browser.new_context(viewport={"width": 1280, "height": 900})  # a new browser, same cookie jar
    try:
        fresh.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path")}])
        page = fresh.new_page()
        visit(server, page, "workspace")
        assert_on(page, server, "workspace", "Files")
    finally:
        fresh.close()


def test_a_private_address_opened_logged_out_shows_the_login_form_then_that_page(server, tab):
    server.user("deeplink@example.com")
    visit(server, tab, "account")
    assert_on(tab, server, "account", "Log in")
    log_in(tab, "deeplink@example.com")
    assert_on(tab, server, "account", "Settings")
    tab.get_by_role("link", name="Log out").click()
    assert_on(tab, server, "sign-in", "Log in")


# ---------------------------------------------------------------- the Files editor

def test_the_editor_gutter_lines_up_and_the_header_follows_a_save(server, tab):
    from playwright.sync_api import expect

    user = server.user("editor@example.com")
    text = "".join(f"x{i} = {i}  # line {i}\n" for i in range(1, 30))
    server.services.backend.files.write_bytes(user.user_id, "calc.py", text.encode())
    visit(server, tab, "workspace")
    log_in(tab, "editor@example.com")
    assert_on(tab, server, "workspace", "Files")
    header = tab.get_by_text(re.compile(r"^\d+ B · changed "))
    expect(header).to_have_text(re.compile(f"^{len(text)} B "))
    editor = tab.frame_locator('iframe[title="code_editor.code_editor"]')
    editor.locator(".ace_content").click()
    tab.keyboard.press("Control+End")  # typing on the last lines is where the gutter used to drift
    added = "y = 'one more line'\nz = 2\n"
    tab.keyboard.insert_text(added)
    lines = text.count("\n") + added.count("\n") + 1
    expect(editor.locator(".ace_gutter-active-line")).to_have_text(str(lines))  # drawn after the typing
    frame = next(f for f in tab.frames if "code_editor" in f.url)
    rows = frame.evaluate("""() => [...document.querySelectorAll('.ace_gutter-cell')].map(cell => {
        const line = document.querySelectorAll('.ace_line')[[...cell.parentNode.children].indexOf(cell)];
        return [cell.getBoundingClientRect().top, line.getBoundingClientRect().top]; })""")
    assert rows and all(abs(number - line) < 1 for number, line in rows), rows
    editor.get_by_text("Save").click()
    expect(tab.get_by_text("Saved calc.py.")).to_be_visible()
    saved = len(text) + len(added)
    assert len(server.services.backend.files.read_bytes(user.user_id, "calc.py")) == saved
    expect(header).to_have_text(re.compile(f"^{saved} B "))
    expect(tab.get_by_test_id("stDataFrame")).to_be_visible()


# ---------------------------------------------------------------- Sign in with Google (a fake OIDC provider)

def identity_cookie(page) -> bool:
    return any(c["name"].startswith(STREAMLIT_IDENTITY) and c["value"] for c in page.context.cookies())


def sign_in_with_provider(page, server: Server, claims: dict) -> None:
    server.provider.next_user = claims
    visit(server, page, "sign-in")
    page.get_by_role("button", name=re.compile("^Sign in with")).click()


def test_sign_in_with_the_provider_creates_an_account_and_logout_ends_it(server, tab):
    sign_in_with_provider(server=server, page=tab,
                          claims={"sub": "g-new", "email": "New.Person@example.com", "email_verified": True})
    assert_on(tab, server, "ask", "Chat")
    user = server.services.backend.records.find_user_by_email("new.person@example.com")
    assert user is not None and oidc.linked_subject(user, server.provider.issuer) == "g-new"
    assert len(server.provider.token_requests) >= 1 and identity_cookie(tab)

    with tab.expect_request(f"{server.url}/auth/logout"):  # st.logout drops the identity cookie too
        tab.get_by_role("link", name="Log out").click()
    assert_on(tab, server, "sign-in", "Log in")
    assert not identity_cookie(tab)
    tab.reload()
    assert_on(tab, server, "sign-in", "Log in")


def test_an_unverified_email_is_refused(server, tab):
    from playwright.sync_api import expect

    sign_in_with_provider(server=server, page=tab,
                          claims={"sub": "g-unverified", "email": "unverified@example.com", "email_verified": False})
    assert_on(tab, server, "sign-in", "Log in")
    expect(tab.get_by_text("not verified")).to_be_visible()
    assert server.services.backend.records.find_user_by_email("unverified@example.com") is None


def test_a_password_account_links_after_its_password_and_the_server_session_governs(server, tab):
    from playwright.sync_api import expect

    owner = server.user("owner@example.com")
    sign_in_with_provider(server=server, page=tab,
                          claims={"sub": "g-owner", "email": "owner@example.com", "email_verified": True})
    expect(tab.get_by_role("heading", name="Link your account")).to_be_visible()
    tab.get_by_label("DELTA3 password").fill("Not-the-password-1")
    tab.get_by_role("button", name="Link and log in").click()
    expect(tab.get_by_text("Wrong email or password.")).to_be_visible()
    assert oidc.linked_subject(server.services.backend.records.get_user(owner.user_id), server.provider.issuer) is None
    tab.get_by_label("DELTA3 password").fill(PASSWORD)
    tab.get_by_role("button", name="Link and log in").click()
    assert_on(tab, server, "ask", "Chat")
    linked = server.services.backend.records.get_user(owner.user_id)
    assert oidc.linked_subject(linked, server.provider.issuer) == "g-owner"
    assert session_cookie(tab)

    # "Log out everywhere" elsewhere: the identity cookie lives on here, yet it opens nothing again.
    accounts.logout_everywhere(server.services.backend, owner.user_id)
    assert identity_cookie(tab)
    tab.reload()
    assert_on(tab, server, "ask", "Log in")

    # Linked now: the provider alone signs in; "Log out everywhere" here drops the identity cookie too.
    sign_in_with_provider(server=server, page=tab,
                          claims={"sub": "g-owner", "email": "owner@example.com", "email_verified": True})
    assert_on(tab, server, "ask", "Chat")
    tab.get_by_role("link", name="Settings").click()
    tab.get_by_role("tab", name="Account").click()
    with tab.expect_request(f"{server.url}/auth/logout"):
        tab.get_by_role("button", name="Log out everywhere").click()
    assert_on(tab, server, "sign-in", "Log in")
    assert not identity_cookie(tab)
