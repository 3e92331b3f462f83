"""A turn's checkpoint: which paths it changed, what each held before its first change and after its last."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from ..errors import Delta3Error
from ..storage.base import CheckpointRecord
from .localstore import LocalVersions, same_state
from .s3versions import S3Versions

log = logging.getLogger(__name__)

KEEP_TURNS = 50  # undo reaches back this many turns that changed files (and at most 30 days)
MAX_CHANGES = 1000  # paths recorded per turn (a DynamoDB item holds 400 KB)
UNDO_STORE_FACTOR = 2  # local: old contents (plus a copy of the current files) take at most 2x the quota
GC_SPREAD = 16  # local: about one turn in 16 sweeps old checkpoints (the last hex digit of its id decides)
_VERSIONS: WeakKeyDictionary = WeakKeyDictionary()


def versions_for(services: Any) -> Any:
    """The version keeper of this deployment's file store (None if it has none), made once per store."""
    files = services.backend.files
    keeper = _VERSIONS.get(files)
    if keeper is None:
        from ..storage.localfiles import LocalFileStore
        from ..storage.s3 import S3FileStore

        if isinstance(files, LocalFileStore):
            keeper = LocalVersions(files, UNDO_STORE_FACTOR * services.settings.quota_bytes)
        elif isinstance(files, S3FileStore):
            keeper = S3Versions(files)
        else:
            return None
        _VERSIONS[files] = keeper
    return keeper


def new_turn_id() -> str:
    """A turn id that sorts by time: milliseconds since 1970, then a random tail."""
    return f"{int(time.time() * 1000):014d}-{secrets.token_hex(4)}"


@dataclass
class RunPaths:
    """Filled in by a code run with the paths it changed."""

    paths: list[str] = field(default_factory=list)


class Recorder:
    """Collects one turn's file changes; `commit()` stores them as the turn's checkpoint.

    Recording never breaks a tool: if the store fails, the path is left out of the checkpoint.
    """

    def __init__(self, services: Any, user_id: str, channel: str = "web", label: str = ""):
        self.services, self.user_id, self.channel, self.label = services, user_id, channel, label
        self.versions = versions_for(services)
        self.turn_id = new_turn_id()
        self.changes: dict[str, dict[str, Any]] = {}
        self.lost: list[str] = []  # paths whose earlier state could not be kept
        self._kept: CheckpointRecord | None = None  # what the store holds for this turn

    @contextmanager
    def changing(self, paths: list[str], folders: bool = False) -> Iterator[None]:
        """Around a write or delete of `paths` (with folders=True, a folder stands for its files)."""
        files, before = list(paths), {}
        if self.versions is not None:
            try:
                files = self.versions.expand(self.user_id, files) if folders else files
                before = self.versions.capture(self.user_id, [p for p in files if p not in self.changes])
            except Delta3Error as exc:
                self._lose(files, exc)
                files = []
        try:
            yield
        finally:
            self._observe(files, before)

    @contextmanager
    def running(self) -> Iterator[RunPaths]:
        """Around a code run; set `.paths` on what it yields to the paths the run changed."""
        run = RunPaths()
        ready = self.versions is not None
        if ready:
            try:
                self.versions.prepare_run(self.user_id)
            except (Delta3Error, OSError) as exc:
                ready = False
                log.warning("could not prepare the checkpoint of user %s: %s", self.user_id, exc)
        try:
            yield run
        finally:
            if ready:
                self._observe(run.paths, {})
            else:
                self._lose(run.paths, None)

    def _observe(self, paths: list[str], before: dict[str, Any]) -> None:
        if not paths or self.versions is None:
            return
        try:
            seen = self.versions.observe(self.user_id, paths, before, set(self.changes))
        except (Delta3Error, OSError) as exc:
            self._lose(paths, exc)
            return
        for path, (old, new) in seen.items():
            if path in self.changes:
                self.changes[path]["after"] = new
            else:
                self.changes[path] = {"before": old, "after": new}

    def _lose(self, paths: list[str], exc: Exception | None) -> None:
        if exc is not None:
            log.warning("could not record a checkpoint of user %s: %s", self.user_id, exc)
        self.lost += [p for p in paths if p not in self.lost]

    def commit(self) -> CheckpointRecord | None:
        """Store the checkpoint (None when no file changed); StorageError if the store fails."""
        record = self.keep()
        spread = int(self.turn_id[-1], 16) % GC_SPREAD == 0
        if record is not None and isinstance(self.versions, LocalVersions) and spread:
            sweep(self.services, self.user_id)
        return record

    def keep(self) -> CheckpointRecord | None:
        """Store the checkpoint as it stands (after each tool): a turn cut off by a crash still leaves one.

        The turn id stays the same, so the next keep or the final commit replaces it, never adds a second.
        """
        changes = [{"path": path, **change} for path, change in sorted(self.changes.items())
                   if not same_state(change["before"], change["after"])]
        if not changes:
            return None
        data = {"channel": self.channel, "label": self.label[:120], "changes": changes[:MAX_CHANGES]}
        if len(changes) > MAX_CHANGES or self.lost:
            data["partial"] = True
        if self._kept is not None and self._kept.data == data:
            return self._kept  # stored already (a tool that changed nothing since)
        record = CheckpointRecord(self.turn_id, time.time(), data)
        self.services.backend.records.put_checkpoint(self.user_id, record)
        self._kept = record
        return record


def sweep(services: Any, user_id: str) -> None:
    """Forget checkpoints past the newest KEEP_TURNS or over the size cap, and content no one needs."""
    records = services.backend.records
    found = records.recent_checkpoints(user_id, KEEP_TURNS * 4)
    gone = [r.turn_id for r in found[KEEP_TURNS:]]
    gone += versions_for(services).sweep(user_id, found[:KEEP_TURNS])
    if gone:
        records.delete_checkpoints(user_id, gone)


def forget(services: Any, user_id: str) -> None:
    """Delete every checkpoint of a user and, locally, the old contents kept for them (account deletion).

    On AWS the old contents are the object versions under the user's prefix: deleting the account's
    files must delete every version of them too.
    """
    records = services.backend.records
    while found := records.recent_checkpoints(user_id, 1000):
        records.delete_checkpoints(user_id, [r.turn_id for r in found])
    keeper = versions_for(services)
    if isinstance(keeper, LocalVersions):
        keeper.drop(user_id)
