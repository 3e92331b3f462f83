"""Files: browse, edit, upload and download the files of your workspace."""

import streamlit as st

from delta3_core.web import auth as webauth
from delta3_core.web import files as webfiles
from delta3_core.web import undo as webundo
from delta3_core.workspace import Workspace

services = webauth.services()
user = webauth.require_user()
ws = Workspace(services.backend, user.user_id, services.settings.quota_bytes)
everything = ws.list()
files = everything if st.session_state.get("show_hidden") else [f for f in everything if not webfiles.is_hidden(f.path)]
folders = ["."] + [f.path for f in files if f.is_dir]
paths = [f.path for f in files if not f.is_dir]

st.title("Files", anchor=False)
used, quota = ws.usage(), services.settings.quota_bytes
st.progress(min(used / quota, 1.0), text=f"{webfiles.human_size(used)} of {webfiles.human_size(quota)} used")
webauth.show_flash()

bar = st.columns([1, 1, 1.2, 1.2], vertical_alignment="center")
with bar[0].popover("New", icon=":material/add:", width="stretch"):
    st.selectbox("In folder", folders, key="new_in", format_func=webfiles.folder_label)
    st.text_input("Name", key="new_name", placeholder="notes.md or src/")
    st.button("Create file", on_click=webfiles.create, args=(ws, "file"))
    st.button("Create folder", on_click=webfiles.create, args=(ws, "folder"))
with bar[1].popover("Upload", icon=":material/upload:", width="stretch"):
    target = st.selectbox("Into folder", folders, key="upload_in", format_func=webfiles.folder_label)
    picked = st.file_uploader("Files", accept_multiple_files=True, key=f"up{st.session_state.get('up', 0)}")
    if st.button("Upload", disabled=not picked) and webauth.act(
            lambda: webfiles.upload(ws, target, picked), f"Uploaded {webfiles.plural(len(picked or []), 'file')}."):
        st.session_state["up"] = st.session_state.get("up", 0) + 1
        st.rerun()
bar[2].download_button("Download all (.zip)", ws.export_zip, "workspace.zip", "application/zip",
                       icon=":material/folder_zip:", width="stretch", disabled=not everything)
if hidden := sum(webfiles.is_hidden(f.path) for f in everything):
    bar[3].toggle(f"Show hidden files ({hidden})", key="show_hidden")

if not everything:
    st.info("Your workspace is empty. Ask for some code in Chat, or upload files here.", icon=":material/folder:")
    st.stop()
if files:
    st.dataframe(webfiles.listing_rows(files), hide_index=True, column_order=("Name", "Size", "Modified"))
if not paths:
    st.caption("Only hidden files here: switch on *Show hidden files* to see them." if hidden else "No files yet.")
    st.stop()
webfiles.open_file(paths, files)
path = st.selectbox("Open file", paths, key="open_choice", on_change=webfiles.choose_file)
info = next(f for f in files if f.path == path)

st.subheader(webauth.plain(path), divider="gray", anchor=False)
actions = st.columns([1, 1, 1, 3], vertical_alignment="center")
actions[0].download_button("Download", lambda: ws.read_bytes(path), path.rsplit("/", 1)[-1],
                           icon=":material/download:", width="stretch")
with actions[1].popover("Rename", icon=":material/edit:", width="stretch"):
    st.text_input("New name", value=path.rsplit("/", 1)[-1], key="rename_to")
    st.button("Rename", on_click=webfiles.rename_open, args=(ws, path))
with actions[2].popover("Delete", icon=":material/delete:", width="stretch"):
    st.write(f"Delete **{webauth.plain(path)}**? This cannot be undone.")
    st.button("Delete for good", type="primary", on_click=webfiles.delete, args=(ws, path))
actions[3].caption(f"{webfiles.human_size(info.size)} · changed {webfiles.listing_rows([info])[0]['Modified']}")
webfiles.show_file(ws, path)
webundo.show_history(services, user.user_id, path)
