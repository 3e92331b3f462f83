"""DELTA3 web app: the router. Which pages exist depends on login; the pages hold the screens."""

import streamlit as st

from delta3_core.web import auth as webauth

st.set_page_config(page_title="DELTA3", page_icon=":material/terminal:", layout="wide")

services = webauth.services()
user = webauth.current_user(services)

# url_path differs from each file name on purpose: Streamlit would otherwise also map pages/<name>.py
# by its file name, and a page the user may not see must not be reachable under any address.
PRIVATE_URLS = ("ask", "workspace", "account")
if user is None:
    pages = [
        st.Page("pages/login.py", title="Log in", icon=":material/login:", url_path="sign-in", default=True),
        st.Page("pages/register.py", title="Create account", icon=":material/person_add:", url_path="sign-up"),
        st.Page("pages/reset_password.py", title="Reset password", icon=":material/lock_reset:",
                url_path="reset-password"),
        # A link to a private page shows the login form there (not the page); after login it opens.
        *(st.Page("pages/login.py", title="Log in", url_path=url, visibility="hidden") for url in PRIVATE_URLS),
    ]
else:
    pages = {
        "DELTA3": [
            st.Page("pages/chat.py", title="Chat", icon=":material/forum:", url_path="ask", default=True),
            st.Page("pages/files.py", title="Files", icon=":material/folder_open:", url_path="workspace"),
            st.Page("pages/settings.py", title="Settings", icon=":material/tune:", url_path="account"),
        ],
        user.email: [
            st.Page(webauth.sign_out_page, title="Log out", icon=":material/logout:", url_path="sign-out"),
        ],
    }

webauth.render_cookie_ops()
st.navigation(pages, position="sidebar" if user else "hidden").run()
