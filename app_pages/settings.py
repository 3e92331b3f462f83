"""Settings: Gemini key, model, phone for SMS, usage and budget, API tokens, password, sessions, your data."""

import streamlit as st

from delta3_core import accounts, keys
from delta3_core.accounts import phone_verify
from delta3_core.accounts import tokens as pat
from delta3_core.errors import Delta3Error
from delta3_core.executor import sandbox_status
from delta3_core.web import account as webaccount
from delta3_core.web import auth as webauth
from delta3_core.web import settings as websettings

services = webauth.services()
user = webauth.refresh_user(services)
st.title("Settings", anchor=False)
page = st.container(width=760)  # forms read better narrow; on a phone it simply takes the whole width
with page:
    webauth.show_flash()
# Tracked tabs: after a button in "Phone (SMS)" reruns the page, the user is still on that tab.
key_tab, model_tab, phone_tab, usage_tab, token_tab, account_tab = page.tabs(
    ["Gemini key", "Model", "Phone (SMS)", "Usage", "API tokens", "Account"], key="settings_tab", on_change="rerun")

with key_tab:
    try:
        saved = keys.get_gemini_key(services.backend, user.user_id)
    except Delta3Error as error:
        saved = None
        st.warning(str(error))
    if saved:
        st.success(f"Your key is saved: `{keys.mask_key(saved)}`", icon=":material/key:")
        st.page_link("app_pages/chat.py", label="Start chatting", icon=":material/arrow_forward:")
    else:
        st.info("Get a free key at [aistudio.google.com/apikey](https://aistudio.google.com/apikey), "
                "then paste it here.", icon=":material/key:")
    with st.form("key", clear_on_submit=True):
        st.text_input("Replace key" if saved else "Gemini API key", key="new_key", type="password",
                      autocomplete="off", placeholder="AIza…")
        st.form_submit_button("Check and save", type="primary", on_click=websettings.save_key, args=(services,))
    if saved:
        st.button("Remove my key", on_click=websettings.remove_key, args=(services,))

with model_tab:
    available = websettings.model_list(services, user.user_id)
    current = available.find(user.model) or available.default  # a retired choice shows as the default
    st.selectbox("Gemini model", available.names, index=available.names.index(current), key="model_choice",
                 format_func=lambda name: websettings.model_label(available, name),
                 help="Flash is fast and cheap; Pro thinks harder.")
    if not keys.has_gemini_key(user):
        st.caption("Add your Gemini key to see exactly which models it can use.")
    elif not available.live:
        st.caption("Gemini did not say which models your key can use just now; this is the usual list.")
    if st.session_state.get("model_choice", current) in available.thinking:
        level = (user.prefs or {}).get("thinking", "default")
        st.selectbox("Thinking", websettings.THINKING_CHOICES, key="thinking_choice",
                     index=websettings.THINKING_CHOICES.index(level) if level in websettings.THINKING_CHOICES else 0,
                     format_func=websettings.THINKING_LABELS.get,
                     help="How long the model thinks before it answers: more is more careful, slower and uses "
                          "more tokens.")
    st.button("Use this model", on_click=websettings.save_model, args=(services,))

with phone_tab:
    if user.phone:
        st.success(f"Linked: {user.phone}. Text the DELTA3 number to chat by SMS.", icon=":material/sms:")
        st.button("Unlink this number", on_click=websettings.unlink_phone, args=(services,))
    if services.settings.twilio_configured:
        st.text_input("Link another number" if user.phone else "Phone number", key="phone",
                      placeholder="+1 415 555 0100", help="International format, with +.")
        st.button("Send me a code", on_click=websettings.send_phone_code, args=(services,))
        if pending := phone_verify.pending_phone(services, user.user_id):
            with st.form("code", clear_on_submit=True):
                st.text_input(f"Code sent to {pending}", key="phone_code", max_chars=6)
                st.form_submit_button("Link phone", type="primary", on_click=websettings.confirm_phone,
                                      args=(services,))
    elif not user.phone:
        # Linking must prove the phone is yours: without a code to send, only the phone itself can link.
        st.info("To chat by SMS, text `LINK <your email> <your password>` from your phone to the DELTA3 "
                "number.", icon=":material/sms:")

with usage_tab:
    webaccount.usage_section(services, user)

with token_tab:
    st.caption("Personal access tokens let scripts and the `delta3` command line use the REST API as you. "
               "Logging out does not end them: revoke a token here when you no longer need it.")
    if secret := st.session_state.pop(websettings.NEW_TOKEN, None):
        st.code(secret, language="text")  # shown this once; only its hash is stored
    for token in pat.list_tokens(services.backend, user.user_id):
        name_col, button_col = st.columns([4, 1], vertical_alignment="center")
        expiry = websettings.date_text(token.expires_at) if token.expires_at else "never"
        name_col.markdown(f"**{webauth.plain(token.name)}** · created {websettings.date_text(token.created_at)} · "
                          f"expires {expiry}")
        button_col.button("Revoke", key=f"revoke_{token.token_id}", on_click=websettings.revoke_token,
                          args=(services, token.token_id, token.name))
    with st.form("token", clear_on_submit=True):
        st.text_input("Token name", key="token_name", placeholder="laptop, CI, editor…", max_chars=100)
        st.selectbox("Expires after", list(websettings.TOKEN_EXPIRY), index=1, key="token_expiry")
        st.form_submit_button("Create token", on_click=websettings.create_token, args=(services,))

with account_tab:
    st.markdown(f"Logged in as `{user.email}`.")  # a code span: an email in plain text becomes a link
    sandbox = sandbox_status(services.settings).removeprefix("ok: ")
    st.caption(sandbox[:1].upper() + sandbox[1:])  # e.g. "Code runs in a bubblewrap sandbox (network off)."
    with st.form("password", clear_on_submit=True):
        if accounts.has_password(user):
            st.subheader("Change password", anchor=False)
            st.text_input("Current password", key="pw_old", type="password", autocomplete="current-password")
        else:  # made by signing in with Google: a password adds logging in by email, SMS LINK and the API
            st.subheader("Set a password", anchor=False)
            st.caption("You sign in with Google. A password also lets you log in with your email, link a phone "
                       "by SMS and use the API.")
        st.text_input("New password", key="pw_new", type="password", autocomplete="new-password")
        st.text_input("Repeat new password", key="pw_repeat", type="password", autocomplete="new-password")
        label = "Change password" if accounts.has_password(user) else "Set password"
        st.form_submit_button(label, on_click=websettings.change_password, args=(services,))
    st.subheader("Sessions", anchor=False)
    st.caption("Lost a device or used a shared computer? End every session, including this one.")
    st.button("Log out everywhere", on_click=webauth.sign_out_everywhere, args=(services,))
    webaccount.data_section(services, user)
