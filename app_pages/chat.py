"""Chat: talk to Gemini; it writes and runs code in your workspace, shown live."""

import streamlit as st

from delta3_core import agent, history, keys, usage
from delta3_core.errors import Delta3Error
from delta3_core.executor import sandbox_status
from delta3_core.web import auth as webauth
from delta3_core.web import chat as chatview
from delta3_core.web import undo as webundo
from delta3_core.web.auth import plain
from delta3_core.workspace import Workspace

services = webauth.services()
user = webauth.require_user()
workspace = Workspace(services.backend, user.user_id, services.settings.quota_bytes)
has_key = keys.has_gemini_key(user)


def clear_chat() -> None:
    history.clear(services.backend, user.user_id)


messages = history.recent(services.backend, user.user_id)
title, actions = st.columns([5, 1], vertical_alignment="bottom")
title.title("Chat", anchor=False)
if messages:
    with actions.popover("Clear chat", icon=":material/delete_sweep:", width="stretch"):
        st.write("Delete the whole conversation? Your files stay.")
        st.button("Delete messages", type="primary", on_click=clear_chat)
webauth.show_flash()
if not (sandbox := sandbox_status(services.settings)).startswith("ok:"):
    st.warning(sandbox, icon=":material/shield:")  # no sandbox, or the operator's unsafe opt-in

if not has_key:
    st.info("Welcome! To start chatting, add your Google Gemini API key in Settings. "
            "It is stored encrypted and only used for your requests.", icon=":material/key:")
    st.page_link("app_pages/settings.py", label="Add my Gemini key", icon=":material/arrow_forward:")

starter = st.session_state.pop("starter", None)
intro = st.container()  # always there, so the history below keeps its place when the starters go
if has_key and not messages and not starter:
    intro.markdown("**What shall we build?** Pick a starter, type below, or attach files with **+**.")
    starters = intro.columns(len(chatview.STARTERS))
    for column, idea in zip(starters, chatview.STARTERS, strict=True):
        column.button(idea, width="stretch", on_click=st.session_state.update, kwargs={"starter": idea})
undoable = webundo.checkpoints(services, user.user_id, messages)
chatview.render_history(workspace, messages,
                        lambda checkpoint: webundo.show_changes(services, user.user_id, checkpoint, undoable))

prompt = st.chat_input("Ask DELTA3 to write, run or fix code…", accept_file="multiple", disabled=not has_key)
if (prompt and (prompt.text.strip() or prompt.files)) or starter:
    try:
        attached = chatview.save_attachments(workspace, prompt.files if prompt else [])
    except Delta3Error as error:
        st.error(plain(str(error)))
        st.stop()
    text = starter or prompt.text.strip() or "I attached some files."
    with st.chat_message("user", avatar=chatview.AVATARS["user"]):
        st.markdown(text)
        if attached:
            st.caption("Attached: " + ", ".join(attached))
    events = agent.chat(services, user.user_id, text, channel="web", attachments=attached)
    chatview.stream_answer(workspace, events, after=lambda: webundo.show_latest(services, user.user_id))

today = usage.usage_today(services.backend, user.user_id)  # after the answer, so it counts it
st.sidebar.caption(f"Today: {today.get('tokens_in', 0):,} tokens in · {today.get('tokens_out', 0):,} out")
