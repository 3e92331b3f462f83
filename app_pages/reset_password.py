"""Forgot password: a 6-digit code by SMS to the linked phone (or from the operator), then a new password."""

import streamlit as st

from delta3_core import accounts
from delta3_core.web import account as webaccount
from delta3_core.web import auth as webauth

services = webauth.services()

with webauth.auth_panel():
    if st.session_state.pop("reset_done", False):
        st.page_link("app_pages/login.py", label="Log in", icon=":material/login:")
        st.stop()
    with st.form("reset_request", border=True):
        st.subheader("Forgot your password?", anchor=False)
        st.caption("We text a code to the phone linked to your account. No phone linked? Ask the operator of "
                   "this server for a code, then enter it below.")
        st.text_input("Email", key="reset_email", autocomplete="email", placeholder="you@example.com")
        st.form_submit_button("Text me a code", width="stretch", on_click=webaccount.request_reset_code,
                              args=(services,))
    with st.form("reset_confirm", border=True):
        st.subheader("Set a new password", anchor=False)
        st.text_input("Code", key="reset_code", max_chars=6, autocomplete="one-time-code")
        st.text_input("New password", key="reset_new", type="password", autocomplete="new-password",
                      help=f"At least {accounts.MIN_PASSWORD_CHARS} characters, mixing two kinds.")
        st.text_input("Repeat new password", key="reset_repeat", type="password", autocomplete="new-password")
        st.form_submit_button("Set new password", type="primary", width="stretch",
                              on_click=webaccount.confirm_reset, args=(services,))
    st.page_link("app_pages/login.py", label="Back to log in", icon=":material/login:")
