"""Checkpoints on AWS: the bucket is versioned, so old content is already there as object versions.

A turn records, per changed path, the version id it found before its first change and the one it
left (a delete marker for a deletion). Undo deletes exactly the versions the turn added, in one
DeleteObjects call: the version before becomes current again. Deleting by version id can never remove
a version someone wrote since, so a path changed since keeps its newer content. A state is
{"v": version id, "size", "dm": True for a delete marker}, or None when the key had no version.
"""

from __future__ import annotations

import os
from typing import Any

from ..storage.s3 import _s3_errors

_BATCH = 1000


class S3Versions:
    """Object versions of one bucket's workspaces, for undo and file history."""

    def __init__(self, files: Any):
        self.files = files
        self.client = files.client
        self.bucket = files.bucket

    def _key(self, user_id: str, path: str) -> str:
        return self.files.prefix(user_id) + path

    @_s3_errors
    def history(self, user_id: str, paths: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Every version of each path, newest first, from one listing of their common prefix."""
        if not paths:
            return {}
        keys = {self._key(user_id, p): p for p in paths}
        prefix = os.path.commonprefix(list(keys))
        found: dict[str, list[dict[str, Any]]] = {p: [] for p in paths}
        for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix):
            for kind, is_marker in (("Versions", False), ("DeleteMarkers", True)):
                for entry in page.get(kind, []):
                    if entry["Key"] in keys:
                        found[keys[entry["Key"]]].append({
                            "v": entry["VersionId"], "size": int(entry.get("Size", 0)), "dm": is_marker,
                            "latest": entry.get("IsLatest", False), "at": entry["LastModified"].timestamp()})
        for entries in found.values():
            entries.sort(key=lambda e: (e["latest"], e["at"]), reverse=True)
        return found

    @staticmethod
    def _state(entry: dict[str, Any] | None) -> dict[str, Any] | None:
        if entry is None:
            return None
        return {"v": entry["v"], "size": entry["size"], **({"dm": True} if entry["dm"] else {})}

    @_s3_errors
    def expand(self, user_id: str, paths: list[str]) -> list[str]:
        """The files at or under each path (one listing per path: a folder stands for its files)."""
        found: list[str] = []
        prefix = self.files.prefix(user_id)
        for path in paths:
            listed = [o["Key"][len(prefix):] for o in self.files._objects(prefix + path)]
            inside = [p for p in listed if (p == path or p.startswith(path + "/")) and not p.endswith("/")]
            found += inside or [path]
        return found

    def capture(self, user_id: str, paths: list[str]) -> dict[str, Any]:
        """Nothing to do before a change: the version before stays in the bucket."""
        return {}

    def prepare_run(self, user_id: str) -> None:
        """Nothing to do before a run, for the same reason."""

    def observe(self, user_id: str, paths: list[str], before: dict[str, Any],
                known: set[str]) -> dict[str, tuple[Any, Any]]:
        """After a change: {path: (version before, version now)}, from one version listing."""
        found = {}
        for path, entries in self.history(user_id, paths).items():
            now = entries[0] if entries and entries[0]["latest"] else None
            old = None if path in known or len(entries) < 2 else entries[1]
            found[path] = (self._state(old), self._state(now))
        return found

    def content(self, user_id: str, path: str, state: dict[str, Any] | None) -> bytes | None:
        """The bytes of one version (None for absent or a delete marker)."""
        if not state or state.get("dm"):
            return None
        return self._get(self._key(user_id, path), state["v"])

    @_s3_errors
    def _get(self, key: str, version: str) -> bytes:
        body = self.client.get_object(Bucket=self.bucket, Key=key, VersionId=version)["Body"]
        with body:
            return body.read()

    @_s3_errors
    def revert(self, user_id: str, changes: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
        """Delete the versions each turn added where its version is still the newest; (restored, kept)."""
        history = self.history(user_id, [c["path"] for c in changes])
        doomed: list[tuple[str, dict[str, str]]] = []
        kept: list[str] = []
        for change in changes:
            path, entries = change["path"], history[change["path"]]
            after, before = change.get("after"), change.get("before")
            newest = entries[0]["v"] if entries and entries[0]["latest"] else None
            ids = [e["v"] for e in entries]
            if newest != (after or {}).get("v") or (before and before["v"] not in ids):
                kept.append(path)  # changed since (or the old version has expired): keep what is there
                continue
            added = ids[: ids.index(before["v"])] if before else ids
            doomed += [(path, {"Key": self._key(user_id, path), "VersionId": v}) for v in added]
        failed: set[str] = set()
        for start in range(0, len(doomed), _BATCH):
            chunk = doomed[start:start + _BATCH]
            result = self.client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [obj for _path, obj in chunk], "Quiet": True})
            errors = {(e["Key"], e.get("VersionId")) for e in result.get("Errors", [])}
            failed |= {path for path, obj in chunk if (obj["Key"], obj["VersionId"]) in errors}
        restored = [c["path"] for c in changes if c["path"] not in kept and c["path"] not in failed]
        return restored, kept + sorted(failed)

    def sweep(self, user_id: str, records: list[Any]) -> list[str]:
        """Nothing to sweep: old versions expire by the bucket's lifecycle rule, records by TTL."""
        return []
