"""File history for people: what a turn changed (as +/- diffs) and the earlier versions of one file."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import NotFoundError
from ..storage.base import CheckpointRecord
from ..workspace import Workspace, validate_path
from .recorder import versions_for
from .s3versions import S3Versions
from .undo import undoable

MAX_DIFF_BYTES = 512 * 1024  # larger files are described, not diffed
MAX_DIFF_LINES = 400


@dataclass
class FileChange:
    """One path of a turn: 'created', 'modified' or 'deleted', and its +/- lines (None: binary or too big)."""

    path: str
    kind: str
    diff: list[str] | None = None
    note: str = ""


@dataclass
class FileVersion:
    """An earlier content of a file: when, from which turn, how big; `state` finds its bytes."""

    at: float
    size: int
    turn: str | None = None
    label: str = ""
    state: dict[str, Any] = field(default_factory=dict)


def change_kind(change: dict[str, Any]) -> str:
    """'created', 'deleted' or 'modified', from a recorded change."""
    before = change.get("before") and not change["before"].get("dm")
    after = change.get("after") and not change["after"].get("dm")
    return "modified" if before and after else "created" if after else "deleted"


def text_diff(old: bytes | None, new: bytes | None, path: str = "") -> list[str] | None:
    """Unified diff lines ('+', '-', ' ', '@@') between two contents; None if either is binary or huge."""
    texts = []
    for data in (old, new):
        if data is None:
            texts.append([])
            continue
        if len(data) > MAX_DIFF_BYTES or b"\x00" in data[:8192]:
            return None
        try:
            texts.append(data.decode("utf-8").splitlines())
        except UnicodeDecodeError:
            return None
    lines = list(difflib.unified_diff(texts[0], texts[1], f"a/{path}", f"b/{path}", lineterm="", n=2))[2:]
    return lines[:MAX_DIFF_LINES] + ([f"… {len(lines) - MAX_DIFF_LINES} more lines"]
                                     if len(lines) > MAX_DIFF_LINES else [])


def turn_diffs(services: Any, user_id: str, record: CheckpointRecord) -> list[FileChange]:
    """Each changed path of a turn with its diff (before the turn vs what the turn left)."""
    versions = versions_for(services)
    found = []
    for change in record.data.get("changes", []):
        path, kind = change["path"], change_kind(change)
        try:
            old = versions.content(user_id, path, change.get("before"))
            new = versions.content(user_id, path, change.get("after"))
        except NotFoundError as exc:
            found.append(FileChange(path, kind, None, str(exc)))
            continue
        diff = text_diff(old, new, path)
        note = "" if diff is not None else f"binary or large file ({len(new or old or b'')} bytes)"
        found.append(FileChange(path, kind, diff, note))
    return found


def file_versions(services: Any, user_id: str, path: str) -> list[FileVersion]:
    """Earlier versions of a file, newest first (what the checkpoints kept); the current one left out."""
    path = validate_path(path)
    versions = versions_for(services)
    records = undoable(services, user_id)
    if isinstance(versions, S3Versions):
        turns = {c["after"]["v"]: r for r in records for c in r.data.get("changes", [])
                 if c["path"] == path and c.get("after")}
        entries = [e for e in versions.history(user_id, [path])[path] if not e["dm"]]
        return [FileVersion(e["at"], e["size"], getattr(turns.get(e["v"]), "turn_id", None),
                            turns[e["v"]].data.get("label", "") if e["v"] in turns else "",
                            {"v": e["v"], "size": e["size"]}) for e in entries if not e["latest"]]
    found: list[FileVersion] = []
    seen: set[str] = set()
    with contextlib.suppress(NotFoundError):
        seen.add(hashlib.sha256(services.backend.files.read_bytes(user_id, path)).hexdigest())
    for record in records:
        for change in record.data.get("changes", []):
            if change["path"] != path:
                continue
            for state, at in ((change.get("after"), record.created_at), (change.get("before"), None)):
                if state and state["sha"] not in seen:
                    seen.add(state["sha"])
                    found.append(FileVersion(at or record.created_at - 0.001, state["size"], record.turn_id,
                                             record.data.get("label", ""), state))
    return found


def version_content(services: Any, user_id: str, path: str, version: FileVersion) -> bytes:
    """The bytes of one earlier version."""
    data = versions_for(services).content(user_id, validate_path(path), version.state)
    if data is None:
        raise NotFoundError(f"That version of {path} has no content.")
    return data


def restore_version(services: Any, user_id: str, path: str, version: FileVersion) -> None:
    """Write an earlier version back as the current content (within the quota)."""
    data = version_content(services, user_id, path, version)
    Workspace(services.backend, user_id, services.settings.quota_bytes).write_bytes(path, data)
