"""Undo on the web: a turn's changed files with +/- diffs and an "Undo these changes" button."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import streamlit as st

from ..checkpoints import (
    FileVersion,
    file_versions,
    restore_version,
    text_diff,
    turn_diffs,
    undo_turn,
    undoable,
    version_content,
)
from ..errors import Delta3Error, NotFoundError
from ..storage.base import CheckpointRecord
from .auth import act, plain
from .files import human_size

if TYPE_CHECKING:
    from delta3_core.services import Services

SIGNS = {"created": "+", "modified": "~", "deleted": "−"}


def checkpoints(services: Services, user_id: str, messages: list[Any]) -> dict[str, CheckpointRecord]:
    """The undoable checkpoints by turn id (read only when some message in view has one)."""
    if not any((m.meta or {}).get("checkpoint") for m in messages):
        return {}
    return {record.turn_id: record for record in undoable(services, user_id)}


def files_label(files: list[dict[str, Any]]) -> str:
    """'Changed 3 files: a.py, b.py, c.py' (names cut after four)."""
    names = ", ".join(f["path"] for f in files[:4]) + (" …" if len(files) > 4 else "")
    return f"Changed {len(files)} file{'s' if len(files) != 1 else ''}: {names}"


def show_changes(services: Services, user_id: str, checkpoint: dict[str, Any],
                 records: dict[str, CheckpointRecord]) -> None:
    """A turn's changed files, their diffs on demand, and its undo button (or why there is none)."""
    turn, files = checkpoint.get("turn", ""), checkpoint.get("files") or []
    record = records.get(turn)
    with st.expander(plain(files_label(files)), icon=":material/difference:"):
        st.caption("  \n".join(f"`{SIGNS.get(f['kind'], '~')}` {plain(f['path'])} ({f['kind']})" for f in files))
        if record is not None and st.toggle("Show the changes", key=f"diff-{turn}"):
            for change in turn_diffs(services, user_id, record):
                st.caption(f"{plain(change.path)} ({change.kind})")
                if change.diff is not None:
                    st.code("\n".join(change.diff) or "(empty)", language="diff")
                else:
                    st.caption(plain(change.note))
    if record is None:
        st.caption("These changes can no longer be undone (undo keeps the last 50 turns, 30 days).")
    elif record.undone:
        st.caption("These changes were undone.")
    else:
        st.button("Undo these changes", key=f"undo-{turn}", icon=":material/undo:",
                  on_click=lambda: act(lambda: undo_turn(services, user_id, turn, "web"), lambda r: r.message()))


def show_latest(services: Services, user_id: str) -> None:
    """Under an answer just streamed: its changed files and undo button, if it changed any."""
    from .. import history

    last = history.recent(services.backend, user_id, 1)
    if last and last[-1].role == "assistant" and last[-1].meta.get("checkpoint"):
        show_changes(services, user_id, last[-1].meta["checkpoint"], checkpoints(services, user_id, last))


def version_label(version: FileVersion) -> str:
    """'2026-11-30 10:52 · turn "fix the parser" · 1.2 KB' for the version picker."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(version.at))
    about = f'turn "{version.label[:40]}"' if version.label else "not from a chat turn"
    return f"{when} · {about} · {human_size(version.size)}"


def show_history(services: Services, user_id: str, path: str) -> None:
    """The open file's earlier versions (time, turn, size), a diff against the current one, and restore."""
    if not st.toggle("Earlier versions", key=f"versions-{path}"):
        return
    try:
        versions = file_versions(services, user_id, path)
    except Delta3Error as error:
        st.warning(plain(str(error)))
        return
    if not versions:
        st.caption("No earlier versions of this file are kept (undo keeps the last 50 turns, 30 days).")
        return
    pick = st.selectbox("Version", range(len(versions)), key=f"version-{path}",
                        format_func=lambda i: version_label(versions[i]))
    version = versions[pick]
    try:
        old = version_content(services, user_id, path, version)
        try:
            current = services.backend.files.read_bytes(user_id, path)
        except NotFoundError:
            current = None
    except Delta3Error as error:
        st.warning(plain(str(error)))
        return
    diff = text_diff(current, old, path)
    st.caption("What restoring it would change in the current file:")
    if diff is None:
        st.caption(f"A binary or large file ({human_size(len(old))}).")
    else:
        st.code("\n".join(diff) or "(the same as the current file)", language="diff")
    st.button("Restore this version", key=f"restore-{path}", icon=":material/history:",
              on_click=lambda: act(lambda: restore_version(services, user_id, path, version),
                                   f"Restored {path} as it was at {version_label(version).split(' · ')[0]}."))
