"""Create an account: email and a password (asked twice)."""

import streamlit as st

from delta3_core import accounts
from delta3_core.web import auth as webauth
from delta3_core.web import oidc as weboidc

services = webauth.services()

with webauth.auth_panel():
    with st.form("register", border=True):
        st.subheader("Create your account", anchor=False)
        st.text_input("Email", key="register_email", autocomplete="email", placeholder="you@example.com")
        st.text_input("Password", key="register_password", type="password", autocomplete="new-password",
                      help=f"At least {accounts.MIN_PASSWORD_CHARS} characters, mixing two kinds "
                           "(lowercase, uppercase, digits, symbols).")
        st.text_input("Repeat password", key="register_repeat", type="password", autocomplete="new-password")
        st.form_submit_button("Create account", type="primary", width="stretch",
                              on_click=webauth.sign_up, args=(services,))
    weboidc.sign_in_button()
    st.page_link("app_pages/login.py", label="Already have an account? Log in", icon=":material/login:")
