"""Checkpoints on the local backend: old file content in a content-addressed store in the data dir.

Layout, per user: `<data dir>/checkpoints/<id>/blobs/<sha256[:2]>/<sha256>` holds each content once;
`shadow.json` maps every workspace file to (size, mtime_ns, sha256) as last seen, so before a code run
only the files whose size or mtime moved since are read again (a run rewrites files in place, so their
old content must already be in the store when it starts). A state is {"sha", "size"}, or None for absent.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConflictError, NotFoundError, ValidationError
from ..executor.scan import scan


class LocalVersions:
    """Old contents of one data dir's workspaces, for undo and file history."""

    def __init__(self, files: Any, cap_bytes: int):
        self.files = files
        self.cap_bytes = cap_bytes
        self._shadows: dict[str, tuple[int, dict[str, list]]] = {}  # user -> (file mtime_ns, parsed)
        self._mutex = threading.Lock()

    def _dir(self, user_id: str) -> Path:
        folder = Path(self.files.root) / "checkpoints" / user_id
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return folder

    # -- content-addressed blobs ------------------------------------------------------
    def _blob(self, user_id: str, sha: str) -> Path:
        return self._dir(user_id) / "blobs" / sha[:2] / sha

    def put(self, user_id: str, data: bytes) -> dict[str, Any]:
        """Store `data` once under its sha256; return its state."""
        sha = hashlib.sha256(data).hexdigest()
        target = self._blob(user_id, sha)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".tmp-{secrets.token_hex(6)}")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return {"sha": sha, "size": len(data)}

    def content(self, user_id: str, path: str, state: dict[str, Any] | None) -> bytes | None:
        """The bytes of a state (None for absent); NotFoundError if the copy is gone or damaged."""
        if not state:
            return None
        try:
            data = self._blob(user_id, state["sha"]).read_bytes()
        except OSError:
            raise NotFoundError(f"The earlier copy of {path} is no longer kept.") from None
        if hashlib.sha256(data).hexdigest() != state["sha"]:
            raise NotFoundError(f"The earlier copy of {path} is damaged.")
        return data

    # -- the shadow: what every file held when last seen ------------------------------
    def _shadow_path(self, user_id: str) -> Path:
        return self._dir(user_id) / "shadow.json"

    def _load(self, user_id: str) -> dict[str, list]:
        path = self._shadow_path(user_id)
        try:
            stamp = path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        cached = self._shadows.get(user_id)
        if cached and cached[0] == stamp:
            return dict(cached[1])
        try:
            shadow = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        self._shadows[user_id] = (stamp, shadow)
        return dict(shadow)

    def _save(self, user_id: str, shadow: dict[str, list]) -> None:
        path = self._shadow_path(user_id)
        tmp = path.with_name(f".shadow-{secrets.token_hex(6)}")
        tmp.write_text(json.dumps(shadow, separators=(",", ":")))
        os.replace(tmp, path)
        self._shadows[user_id] = (path.stat().st_mtime_ns, shadow)

    def _stat(self, user_id: str, path: str) -> os.stat_result | None:
        with contextlib.suppress(OSError):
            return os.lstat(Path(self.files.local_root(user_id)) / path)
        return None

    @contextlib.contextmanager
    def locked(self, user_id: str) -> Iterator[None]:
        """Hold this user's checkpoint lock (across processes: the web app and the webhook)."""
        with self._mutex, open(self._dir(user_id) / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- what a turn records ----------------------------------------------------------
    def expand(self, user_id: str, paths: list[str]) -> list[str]:
        """The files at or under each path (a folder stands for its files)."""
        listed = [f.path for f in self.files.list_files(user_id) if not f.is_dir]
        found: list[str] = []
        for path in paths:
            inside = [p for p in listed if p == path or p.startswith(path + "/")]
            found += inside or [path]
        return found

    def capture(self, user_id: str, paths: list[str]) -> dict[str, Any]:
        """The states of `paths` now, their content kept (before a known change)."""
        return {path: self._read_state(user_id, path) for path in paths}

    def _read_state(self, user_id: str, path: str) -> dict[str, Any] | None:
        try:
            return self.put(user_id, self.files.read_bytes(user_id, path))
        except NotFoundError:
            return None
        except (ValidationError, ConflictError):
            return None  # a folder or a link: not a file to keep

    def prepare_run(self, user_id: str) -> None:
        """Before a code run: keep the content of every file changed since last seen (usually none)."""
        root = self.files.local_root(user_id)
        with self.locked(user_id):
            shadow = self._load(user_id)
            now = scan(Path(root)).files
            fresh = {path: entry for path, entry in shadow.items() if path in now}
            for path, info in now.items():
                entry = fresh.get(path)
                if entry and entry[0] == info.size and entry[1] == info.mtime_ns:
                    continue
                state = self._read_state(user_id, path)
                if state:
                    fresh[path] = [info.size, info.mtime_ns, state["sha"]]
            if fresh != shadow:
                self._save(user_id, fresh)

    def observe(self, user_id: str, paths: list[str], before: dict[str, Any],
                known: set[str]) -> dict[str, tuple[Any, Any]]:
        """After a change: {path: (state before, state now)}; before comes from `before` or the shadow."""
        found: dict[str, tuple[Any, Any]] = {}
        with self.locked(user_id):
            shadow = self._load(user_id)
            for path in paths:
                if path in before:
                    old = before[path]
                elif path in shadow and path not in known:
                    old = {"sha": shadow[path][2], "size": shadow[path][0]}
                else:
                    old = None
                new = self._read_state(user_id, path)
                self._remember(user_id, shadow, path, new)
                found[path] = (old, new)
            self._save(user_id, shadow)
        return found

    def _remember(self, user_id: str, shadow: dict[str, list], path: str, state: dict[str, Any] | None) -> None:
        info = self._stat(user_id, path) if state else None
        if info is None:
            shadow.pop(path, None)
        else:
            shadow[path] = [info.st_size, info.st_mtime_ns, state["sha"]]

    # -- undo ---------------------------------------------------------------------------
    def revert(self, user_id: str, changes: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
        """Put back each path's `before` if it still holds `after`; return (restored, kept)."""
        restored, kept = [], []
        with self.locked(user_id):
            shadow = self._load(user_id)
            for change in changes:
                path = change["path"]
                try:
                    if not same_state(self._read_state(user_id, path), change["after"]):
                        kept.append(path)
                        continue
                    data = self.content(user_id, path, change["before"])
                    if data is None:
                        with contextlib.suppress(NotFoundError):
                            self.files.delete(user_id, path)
                    else:
                        self.files.write_bytes(user_id, path, data)  # atomic: temp file, then rename
                except (NotFoundError, ConflictError, ValidationError):
                    kept.append(path)
                    continue
                self._remember(user_id, shadow, path, change["before"])
                restored.append(path)
            self._save(user_id, shadow)
        return restored, kept

    # -- retention ------------------------------------------------------------------------
    def sweep(self, user_id: str, records: list[Any]) -> list[str]:
        """Drop content no kept checkpoint needs, then the oldest checkpoints while over the cap.

        `records` are the kept checkpoints, newest first; returns the turn ids to forget.
        """
        with self.locked(user_id):
            live = {entry[2] for entry in self._load(user_id).values()}
            blobs = {p.name: p for p in (self._dir(user_id) / "blobs").glob("*/*") if not p.name.startswith(".")}
            needed = [_shas(record) for record in records]
            sizes = {sha: path.stat().st_size for sha, path in blobs.items()}
            dropped: list[str] = []
            while needed and sum(sizes.get(s, 0) for s in live.union(*needed)) > self.cap_bytes:
                needed.pop()
                dropped.append(records[len(needed)].turn_id)
            keep = live.union(*needed)
            for sha, path in blobs.items():
                if sha not in keep:
                    with contextlib.suppress(OSError):
                        path.unlink()
        return dropped


def _shas(record: Any) -> set[str]:
    return {state["sha"] for change in record.data.get("changes", [])
            for state in (change.get("before"), change.get("after")) if state and "sha" in state}


def same_state(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """True when two states hold the same thing (absent counts as one state)."""
    a = None if not a or a.get("dm") else a
    b = None if not b or b.get("dm") else b
    if a is None or b is None:
        return a is b
    return a.get("sha", a.get("v")) == b.get("sha", b.get("v"))
