"""Settings sections for the account's data: usage and the daily budget, export, deletion; and password reset."""

from __future__ import annotations

import io

import streamlit as st

from .. import accounts, budget, usage
from ..accounts.export import write_export
from ..errors import ValidationError
from ..prices import load_prices
from . import auth as webauth
from .auth import act

RESET_SENT = ("If an account with that email has a linked phone, we texted it a 6-digit code (valid 10 minutes). "
              "No phone linked to your account? Ask the operator of this server for a code.")


def _user_id() -> str:
    return webauth.require_user().user_id


# ---------------------------------------------------------------- usage and budget

def usage_section(svc, user) -> None:
    """The last 30 days as a chart, totals by model with an estimated cost, and the daily limit."""
    import pandas as pd

    found = usage.usage_history(svc.backend, user.user_id, load_prices(svc.settings.prices))
    today = usage.usage_today(svc.backend, user.user_id)
    limit = budget.effective_limit(svc.settings, user)
    shown = f"{today['total_tokens']:,} tokens today" + (f" of your daily limit of {limit:,}" if limit else "")
    st.markdown(f"**{shown}** (the day ends at 00:00 UTC).")
    if limit:
        st.progress(min(1.0, today["total_tokens"] / limit))
    chart = pd.DataFrame(found.days).set_index("day")[["tokens_in", "tokens_out", "tokens_thinking"]]
    chart.columns = ["In", "Out", "Thinking"]
    st.bar_chart(chart, x_label="Day (UTC)", y_label="Tokens", stack=True, height=260)
    if found.by_model:
        rows = [{"Model": model, "Messages": totals["requests"], "Tokens in": totals["tokens_in"],
                 "Out": totals["tokens_out"], "Thinking": totals["tokens_thinking"],
                 "Estimated cost": "not in the price table" if totals["cost"] is None else f"${totals['cost']:,.4f}"}
                for model, totals in sorted(found.by_model.items())]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption(f"Estimated cost over 30 days: **${found.cost:,.2f}**, at Gemini's paid-tier list prices of "
               f"{found.price_date}; thinking counts as output. Google's bill for your key is what counts.")
    ceiling = svc.settings.daily_token_limit_max
    with st.form("daily_limit"):
        st.number_input("Your daily token limit (0: the server's default)", key="daily_limit", min_value=0,
                        max_value=ceiling or None, step=10_000, value=budget.user_limit(user) or 0,
                        help="New messages are refused for the rest of the day once you reach it."
                             + (f" At most {ceiling:,} on this server." if ceiling else ""))
        st.form_submit_button("Save limit", on_click=save_daily_limit, args=(svc,))


def save_daily_limit(svc) -> None:
    """Store the user's own daily token limit (0 goes back to the default)."""
    value = int(st.session_state.get("daily_limit") or 0)
    act(lambda: budget.set_daily_limit(svc, _user_id(), value or None),
        lambda user: (f"Your daily limit is {budget.effective_limit(svc.settings, user):,} tokens."
                      if budget.effective_limit(svc.settings, user) else "You have no daily token limit."))


# ---------------------------------------------------------------- export and deletion

def export_bytes(svc, user_id: str) -> bytes:
    """The export zip (workspace, history.json, account.json) as bytes."""
    buffer = io.BytesIO()
    write_export(svc, user_id, buffer)
    return buffer.getvalue()


def data_section(svc, user) -> None:
    """Download all your data; delete the account behind the password and a typed confirmation."""
    st.subheader("Your data", anchor=False)
    st.caption("One zip with your files, your chat history (tool calls and usage included) and your account "
               "details. Never your Gemini key or your password.")
    st.download_button("Download all my data", data=lambda: export_bytes(svc, user.user_id),
                       file_name="delta3-export.zip", mime="application/zip", icon=":material/download:",
                       on_click="ignore")
    st.subheader("Delete account", anchor=False)
    with st.form("delete_account", clear_on_submit=True):
        st.warning("This deletes your account, files, chat history, usage, Gemini key, tokens and phone link. "
                   "It cannot be undone.", icon=":material/warning:")
        if accounts.has_password(user):  # a Google sign-in account has none: the typed email confirms alone
            st.text_input("Password", key="delete_password", type="password", autocomplete="current-password")
        st.text_input("Type your email address to confirm", key="delete_confirm", placeholder=user.email)
        st.form_submit_button("Delete my account forever", on_click=delete_account, args=(svc,))


def delete_account(svc) -> None:
    """Delete the account after the password and the typed email; then this browser is logged out."""
    user = webauth.require_user()
    password = st.session_state.pop("delete_password", "")
    typed = (st.session_state.pop("delete_confirm", "") or "").strip().lower()

    def delete() -> None:
        if typed != user.email.lower():
            raise ValidationError("Type your email address exactly, to confirm that you want the account deleted.")
        accounts.delete_account(svc, user.user_id, password, typed)

    if act(delete, ""):
        webauth.sign_out(svc)  # the session is gone already; this drops the cookie and the page state
        st.session_state[webauth.FLASH] = ("success", "Your account and all its data are deleted.")


# ---------------------------------------------------------------- password reset (logged out)

def request_reset_code(svc) -> None:
    """Text a reset code to the linked phone, if any (the same answer for any email)."""
    email = st.session_state.get("reset_email", "")
    if act(lambda: accounts.request_reset(svc, email, source=webauth._client_source()), RESET_SENT):
        st.session_state["reset_asked"] = True


def confirm_reset(svc) -> None:
    """Set the new password with the code; every session and token ends, so the user logs in again."""
    email = st.session_state.get("reset_email", "")
    code = st.session_state.pop("reset_code", "")

    def reset() -> None:
        accounts.confirm_reset(svc, email, code, webauth.take_new_password("reset_new", "reset_repeat"),
                               source=webauth._client_source())

    if act(reset, "Your password is changed and every session ended. Log in with the new password."):
        st.session_state.pop("reset_asked", None)
        st.session_state["reset_done"] = True
