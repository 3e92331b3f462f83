"""DELTA3 web app: the router. Which pages exist depends on login; the pages hold the screens.

Every screen has its own address, and every address stays routable whatever the login state, so a
reload, a bookmark or a fresh browser never meets Streamlit's "Page not found" dialog:
- Streamlit serves the default page at `/` and does not route that page's own url_path, so the default
  here is a hidden page that only forwards to the real one (the address then changes to it).
- The screens live in app_pages/, not pages/: with a pages/ folder Streamlit runs the first visit after a
  start as an old-style multipage app, which knows none of these addresses.
"""

import streamlit as st

from delta3_core.web import auth as webauth
from delta3_core.web import oidc as weboidc

st.set_page_config(page_title="DELTA3", page_icon=":material/terminal:", layout="wide")

services = webauth.services()
user = webauth.current_user(services) or weboidc.user_from_identity(services)


forwards: list[st.Page] = []


def forward(target: st.Page, url_path: str, default: bool = False) -> st.Page:
    """A hidden page at `url_path` that sends the browser on to `target`."""
    page = st.Page(lambda: st.switch_page(target), title=target.title, url_path=url_path,
                   default=default, visibility="hidden")
    forwards.append(page)
    return page


# url_path differs from each file name on purpose, so no address ever names a script.
PRIVATE_URLS = ("ask", "workspace", "account")
if user is None:
    login = st.Page("app_pages/login.py", title="Log in", icon=":material/login:", url_path="sign-in")
    pages = [
        forward(login, "", default=True),
        login,
        st.Page("app_pages/register.py", title="Create account", icon=":material/person_add:", url_path="sign-up"),
        st.Page("app_pages/reset_password.py", title="Reset password", icon=":material/lock_reset:",
                url_path="reset-password"),
        # A link to a private page shows the login form there (not the page); after login it opens.
        *(st.Page("app_pages/login.py", title="Log in", url_path=url, visibility="hidden") for url in PRIVATE_URLS),
        forward(login, "sign-out"),
    ]
else:
    chat = st.Page("app_pages/chat.py", title="Chat", icon=":material/forum:", url_path="ask")
    pages = {
        "DELTA3": [
            forward(chat, "", default=True),
            chat,
            st.Page("app_pages/files.py", title="Files", icon=":material/folder_open:", url_path="workspace"),
            st.Page("app_pages/settings.py", title="Settings", icon=":material/tune:", url_path="account"),
            # After logging in (or a bookmark of the login form), the public addresses lead to Chat.
            forward(chat, "sign-in"),
            forward(chat, "sign-up"),
            forward(chat, "reset-password"),
        ],
        user.email: [
            st.Page(webauth.sign_out_page, title="Log out", icon=":material/logout:", url_path="sign-out"),
        ],
    }

page = st.navigation(pages, position="sidebar" if user else "hidden")
if not any(page is f for f in forwards):  # a cookie change waits for the page a forward leads to
    webauth.render_cookie_ops()
page.run()
