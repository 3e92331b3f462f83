"""Log in: email and password, or the configured provider (Google); a login starts a 7-day session."""

import streamlit as st

from delta3_core.web import auth as webauth
from delta3_core.web import oidc as weboidc

services = webauth.services()

with webauth.auth_panel():
    if weboidc.link_form(services):  # back from the provider, for an account that has a password
        st.stop()
    with st.form("login", border=True):
        st.subheader("Log in", anchor=False)
        st.text_input("Email", key="login_email", autocomplete="email", placeholder="you@example.com")
        st.text_input("Password", key="login_password", type="password", autocomplete="current-password")
        st.form_submit_button("Log in", type="primary", width="stretch",
                              on_click=webauth.sign_in, args=(services,))
    weboidc.sign_in_button()
    st.page_link("app_pages/reset_password.py", label="Forgot password?", icon=":material/lock_reset:")
    st.page_link("app_pages/register.py", label="New here? Create an account", icon=":material/person_add:")
