"""Checkpoints on the local backend: old file content in a content-addressed store in the data dir.

Layout, per user: `<data dir>/checkpoints/<id>/blobs/<sha256[:2]>/<sha256>` holds each content once;
`shadow.json` maps every workspace file to (size, mtime_ns, sha256) as last seen: a run rewrites files in
place, so their old content must already be in the store when it starts. `changed` lists the paths
written since (by the Files page, the API, a turn), so before a run only those are read again. A state
is {"sha", "size"}, or None for absent.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConflictError, NotFoundError, ValidationError
from ..executor.supervisor.scan import scan

FULL_CHECK_S = 600  # a code run re-checks every file at most this often (changes made outside DELTA3)


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
            # Written in place, not renamed: a copy cut short by a crash fails its hash check on reading.
            with contextlib.suppress(FileExistsError), open(target, "xb") as handle:
                handle.write(data)
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

    def _load(self, user_id: str) -> tuple[dict[str, list], float]:
        """(path -> [size, mtime_ns, sha], when a full scan last confirmed it); ({}, 0) if unknown."""
        path = self._shadow_path(user_id)
        try:
            stamp = path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}, 0.0
        cached = self._shadows.get(user_id)
        if cached is None or cached[0] != stamp:
            try:
                data = json.loads(path.read_text())
                cached = (stamp, data["files"], float(data["verified_at"]))
            except (OSError, ValueError, KeyError, TypeError):
                return {}, 0.0  # cut short by a crash: a full scan rebuilds it
            self._shadows[user_id] = cached
        return dict(cached[1]), cached[2]

    def _save(self, user_id: str, shadow: dict[str, list], verified_at: float) -> None:
        # Written in place (a rename costs more than the whole write on some disks); a torn file fails to parse.
        path = self._shadow_path(user_id)
        path.write_text(json.dumps({"verified_at": verified_at, "files": shadow}, separators=(",", ":")))
        self._shadows[user_id] = (path.stat().st_mtime_ns, shadow, verified_at)

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
        """Before a code run: make sure the store holds what every file holds now.

        Only the paths noted as changed since (by the Files page, the API, a turn) are read again; a
        full stat scan happens when the shadow is missing or older than FULL_CHECK_S (changes made
        on disk outside DELTA3 are noticed then).
        """
        with self.locked(user_id):
            shadow, verified_at = self._load(user_id)
            noted = self._take_noted(user_id)
            if not verified_at or time.time() - verified_at > FULL_CHECK_S:
                now = time.time()
                listing = scan(Path(self.files.local_root(user_id))).files
                fresh = {path: entry for path, entry in shadow.items() if path in listing}
                for path, info in listing.items():
                    self._refresh(user_id, fresh, path, info.size, info.mtime_ns)
                self._save(user_id, fresh, now)
                return
            if not noted:
                return
            for path, seen in noted.items():
                for gone in [p for p in shadow if p == path or p.startswith(path + "/")]:
                    shadow.pop(gone)  # deleted, moved, or replaced by a folder: looked at again below
                info = self._stat(user_id, path)
                if info is not None and seen and [info.st_size, info.st_mtime_ns] == seen[:2]:
                    shadow[path] = seen  # observed after the last turn's change and untouched since
                elif info is not None and stat.S_ISREG(info.st_mode):
                    self._refresh(user_id, shadow, path, info.st_size, info.st_mtime_ns)
                elif info is not None and stat.S_ISDIR(info.st_mode):
                    for rel, inner in scan(Path(self.files.local_root(user_id)) / path).files.items():
                        self._refresh(user_id, shadow, f"{path}/{rel}", inner.size, inner.mtime_ns)
            self._save(user_id, shadow, verified_at)

    def _refresh(self, user_id: str, shadow: dict[str, list], path: str, size: int, mtime_ns: int) -> None:
        entry = shadow.get(path)
        if entry and entry[0] == size and entry[1] == mtime_ns:
            return
        state = self._read_state(user_id, path)
        if state:
            shadow[path] = [size, mtime_ns, state["sha"]]

    def note(self, user_id: str, paths: list[str], seen: dict[str, list] | None = None) -> None:
        """Remember that `paths` changed (and what they held, if `seen`); the next code run looks again."""
        note_changed(self.files, user_id, paths, seen)

    def _take_noted(self, user_id: str) -> dict[str, list | None]:
        try:
            with open(_noted_path(self.files, user_id), "r+", encoding="utf-8") as handle:
                lines = handle.read().splitlines()
                handle.truncate(0)
        except FileNotFoundError:
            return []
        found: dict[str, list | None] = {}
        for line in lines:
            with contextlib.suppress(ValueError, TypeError):
                path, seen = json.loads(line)
                found[str(path)] = list(seen) if seen else None  # the last line about a path wins
        return found

    def observe(self, user_id: str, paths: list[str], before: dict[str, Any],
                known: set[str]) -> dict[str, tuple[Any, Any]]:
        """After a change: {path: (state before, state now)}; before comes from `before` or the shadow."""
        found: dict[str, tuple[Any, Any]] = {}
        seen: dict[str, list] = {}
        shadow, _verified = self._load(user_id)
        for path in paths:
            if path in before:
                old = before[path]
            elif path in shadow and path not in known:
                old = {"sha": shadow[path][2], "size": shadow[path][0]}
            else:
                old = None
            new = self._read_state(user_id, path)
            info = self._stat(user_id, path) if new else None
            if info is not None:
                seen[path] = [info.st_size, info.st_mtime_ns, new["sha"]]
            found[path] = (old, new)
        self.note(user_id, paths, seen)  # the shadow catches up before the next run, not now
        return found

    # -- undo ---------------------------------------------------------------------------
    def revert(self, user_id: str, changes: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
        """Put back each path's `before` if it still holds `after`; return (restored, kept)."""
        restored, kept = [], []
        with self.locked(user_id):
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
                restored.append(path)
            self.note(user_id, restored)
        return restored, kept

    def drop(self, user_id: str) -> None:
        """Delete everything kept for this user (their account is being deleted)."""
        import shutil

        with self._mutex:
            shutil.rmtree(Path(self.files.root) / "checkpoints" / user_id, ignore_errors=True)
            self._shadows.pop(user_id, None)

    # -- retention ------------------------------------------------------------------------
    def sweep(self, user_id: str, records: list[Any]) -> list[str]:
        """Drop content no kept checkpoint needs, then the oldest checkpoints while over the cap.

        `records` are the kept checkpoints, newest first; returns the turn ids to forget.
        """
        with self.locked(user_id):
            live = {entry[2] for entry in self._load(user_id)[0].values()}
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


def _noted_path(files: Any, user_id: str) -> Path:
    return Path(files.root) / "checkpoints" / user_id / "changed"


def note_changed(files: Any, user_id: str, paths: list[str], seen: dict[str, list] | None = None) -> None:
    """Note changed paths (one appended line each, with [size, mtime_ns, sha] if known), for a local store."""
    if not paths or not isinstance(getattr(files, "root", None), (str, Path)):
        return
    target = _noted_path(files, user_id)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(target, "a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps([path, (seen or {}).get(path)]) + "\n" for path in paths))


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
