"""Files page helpers: listing rows, file kinds, editor language, and actions that report one sentence."""

from __future__ import annotations

import hashlib
import io
import posixpath
from datetime import datetime, timezone
from typing import Any

import streamlit as st

from ..errors import Delta3Error, ValidationError
from ..storage.base import FileInfo
from ..workspace import IMAGE_EXTENSIONS, Workspace, human_size, validate_path
from .auth import act, plain

TABLE_EXTS = {".csv", ".tsv"}
EDIT_LIMIT = 1024 * 1024  # bigger text files are downloadable, not edited in the browser
# Ace editor modes by extension; anything else opens as plain text.
ACE_MODES = {
    ".py": "python", ".sh": "sh", ".bash": "sh", ".js": "javascript", ".mjs": "javascript", ".ts": "typescript",
    ".tsx": "tsx", ".jsx": "jsx", ".json": "json", ".md": "markdown", ".html": "html", ".htm": "html",
    ".css": "css", ".scss": "scss", ".sql": "sql", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml",
    ".ini": "ini", ".cfg": "ini", ".xml": "xml", ".c": "c_cpp", ".h": "c_cpp", ".cpp": "c_cpp",
    ".java": "java", ".go": "golang", ".rs": "rust", ".rb": "ruby", ".r": "r", ".csv": "text",
    ".txt": "text", ".dockerfile": "dockerfile", ".tex": "latex", ".lua": "lua", ".php": "php",
}


def plural(count: int, noun: str) -> str:
    """'1 file', '2 files'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def listing_rows(files: list[FileInfo]) -> list[dict[str, Any]]:
    """Rows for the workspace table: folders and files as an indented tree, with size and date."""
    rows = []
    for info in files:
        depth = info.path.count("/")
        name = posixpath.basename(info.path) + ("/" if info.is_dir else "")
        rows.append({"Name": "\u2003\u2003" * depth + name, "Path": info.path,
                     "Size": "" if info.is_dir else human_size(info.size),
                     "Modified": datetime.fromtimestamp(info.mtime, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")})
    return rows


def is_hidden(path: str) -> bool:
    """Dotfiles, caches and compiled files: clutter most users never want to open."""
    parts = path.split("/")
    return any(p.startswith(".") or p == "__pycache__" for p in parts) or path.endswith(".pyc")


def folder_label(folder: str) -> str:
    """How a target folder reads in the New/Upload menus."""
    return "Top level of the workspace" if folder in ("", ".") else folder + "/"


def default_file(files: list[FileInfo]) -> str | None:
    """The file to open first: the most recently changed one, skipping caches and compiled files."""
    candidates = [f for f in files if not f.is_dir and "__pycache__" not in f.path and not f.path.endswith(".pyc")]
    candidates = candidates or [f for f in files if not f.is_dir]
    return max(candidates, key=lambda f: (f.mtime, f.path)).path if candidates else None


def file_kind(path: str) -> str:
    """How the page shows a file: 'image', 'table' or 'text' (binary is decided on reading)."""
    ext = posixpath.splitext(path)[1].lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in TABLE_EXTS:
        return "table"
    return "text"


def editor_language(path: str) -> str:
    """The Ace editor mode for a file name."""
    name = posixpath.basename(path).lower()
    if name == "dockerfile":
        return "dockerfile"
    if name == "makefile":
        return "makefile"
    return ACE_MODES.get(posixpath.splitext(name)[1], "text")


def read_table(data: bytes, path: str):
    """Parse CSV/TSV bytes into a DataFrame; ValidationError with a plain sentence if it is not one."""
    import pandas as pd

    try:
        return pd.read_csv(io.BytesIO(data), sep="\t" if path.lower().endswith(".tsv") else ",")
    except Exception:  # pandas raises many kinds; the user only needs to know it is not a table
        raise ValidationError(f"{path} could not be read as a table.") from None


def join(folder: str, name: str) -> str:
    """A workspace path for `name` inside `folder` ('' or '.' is the root), validated."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("Enter a name.")
    folder = "" if folder in ("", ".") else folder
    return validate_path(f"{folder}/{name}" if folder else name)


def new_file(ws: Workspace, folder: str, name: str) -> str:
    """Create an empty file; ValidationError if something already has that name."""
    path = join(folder, name)
    if ws.exists(path):
        raise ValidationError(f"{path} already exists.")
    ws.write_text(path, "")
    return path


def rename(ws: Workspace, src: str, new_name: str) -> str:
    """Rename within the same folder, or move when the new name contains '/'."""
    new_name = (new_name or "").strip()
    dst = validate_path(new_name) if "/" in new_name else join(posixpath.dirname(src), new_name)
    if dst == src:
        raise ValidationError("Enter a different name.")
    ws.rename(src, dst)
    return dst


def upload(ws: Workspace, folder: str, files: list[Any]) -> list[str]:
    """Save uploaded files into `folder`, replacing files of the same name."""
    saved = []
    for item in files or ():
        path = join(folder, posixpath.basename(item.name.replace("\\", "/")))
        ws.write_bytes(path, item.getvalue())
        saved.append(path)
    return saved


# ---------------------------------------------------------------- page callbacks and the file viewer

def open_file(paths: list[str], files: list[FileInfo]) -> str:
    """The file to show: the one last opened, created or renamed if it is listed, else a sensible default."""
    current = st.session_state.get("open_path")
    if current not in paths:
        current = default_file([f for f in files if f.path in paths]) or paths[0]
    st.session_state["open_path"] = current
    # The menu follows too: Streamlit keeps a keyed widget's old choice even when its options change.
    st.session_state["open_choice"] = current
    return current


def choose_file() -> None:
    """'Open file' menu callback."""
    st.session_state["open_path"] = st.session_state.get("open_choice")


def create(ws: Workspace, what: str) -> None:
    """'New' callback: make a file (and open it) or a folder from the form's fields."""
    folder, name = st.session_state.get("new_in", "."), st.session_state.get("new_name", "")
    if what == "file":
        act(lambda: st.session_state.update(open_path=new_file(ws, folder, name)), f"Created {name.strip()}.")
    else:
        act(lambda: ws.make_dir(join(folder, name)), f"Created folder {name.strip()}.")


def rename_open(ws: Workspace, path: str) -> None:
    """'Rename' callback for the open file."""
    new_name = st.session_state.get("rename_to", "")
    act(lambda: st.session_state.update(open_path=rename(ws, path, new_name)), f"Renamed {path} to {new_name}.")


def delete(ws: Workspace, path: str) -> None:
    """'Delete' callback, after the confirmation popover."""
    if act(lambda: ws.delete(path), f"Deleted {path}."):
        st.session_state.pop("open_path", None)


# No top scroll margin (the component's default is 15 px): with one, the browser scrolls Ace's text layer
# and not its gutter as the cursor nears the bottom, and the line numbers drift below their lines.
# The bottom margin keeps the last line clear of the Save button.
EDITOR_PROPS = {"showGutter": True, "scrollMargin": [0, 24, 0, 0]}
SAVE_BUTTON = {"name": "Save", "feather": "Save", "hasText": True, "alwaysOn": True, "primary": True,
               "commands": ["submit"], "style": {"bottom": "0.46rem", "right": "0.4rem"}}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _editor_key(path: str, text: str) -> str:
    """The editor's widget key: new when the file changed elsewhere (a run), kept across our own saves."""
    versions = st.session_state.setdefault("_editor_versions", {})
    digest = _digest(text)
    if versions.get(path) is None or (versions[path][0] != digest
                                       and st.session_state.get("_saved_digests", {}).get(path) != digest):
        versions[path] = (digest, digest)  # (content seen, key suffix): a fresh editor with the new content
    else:
        versions[path] = (digest, versions[path][1])
    return f"editor:{path}:{versions[path][1]}"


def show_file(ws: Workspace, path: str) -> None:
    """Show one file: images previewed, tables as tables, text in the code editor with Save."""
    from code_editor import code_editor

    kind = file_kind(path)
    try:
        if kind == "image":
            data = ws.read_bytes(path)
            st.image(data.decode("utf-8", "replace") if path.lower().endswith(".svg") else data)
        elif kind == "table":
            st.dataframe(read_table(ws.read_bytes(path), path))
        else:
            text = ws.read_text(path, limit=EDIT_LIMIT)
            reply = code_editor(text, lang=editor_language(path), height=[18, 40], buttons=[SAVE_BUTTON],
                                key=_editor_key(path, text), props=EDITOR_PROPS,
                                options={"wrap": False, "showPrintMargin": False, "showLineNumbers": True})
            st.caption("Edit, then press **Save** (or Ctrl+Enter).")
            if reply and reply.get("type") == "submit" and reply.get("id") != st.session_state.get("saved_id"):
                st.session_state["saved_id"] = reply["id"]
                if act(lambda: ws.write_text(path, reply["text"]), f"Saved {path}."):
                    st.session_state.setdefault("_saved_digests", {})[path] = _digest(reply["text"])
                    st.rerun()
    except Delta3Error as error:
        st.warning(plain(f"{error} You can still download it."), icon=":material/draft:")
