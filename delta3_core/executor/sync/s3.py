"""Workspace sync between a local folder and S3: manifest-driven, streamed, conditional, per-file atomic.

The manifest records, per file, what this folder and S3 last agreed on: size, sha256, the S3 ETag and
the local mtime. A restore downloads only objects whose ETag differs; a push uploads only files whose
content changed and deletes only files this folder had and removed. Every write is conditional
(If-Match on the ETag we restored, If-None-Match for new files), so a run never overwrites or deletes a
version written by another run of the same user meanwhile: its copy is saved beside it instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ...errors import ValidationError
from ...storage.codec import split_path
from ..supervisor.scan import scan

PART_SIZE = 8 * 1024 * 1024  # multipart above this; also the most a transfer holds in memory
CHUNK = 1024 * 1024
WORKERS = 16


@dataclass
class Entry:
    """What the local folder and S3 last agreed on for one file."""

    size: int
    sha256: str
    etag: str
    mtime_ns: int = 0


@dataclass
class SyncReport:
    """Outcome of a push: what changed in S3, what was skipped or failed, and the new manifest."""

    changed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    manifest: dict[str, Entry] = field(default_factory=dict)
    requests: int = 0


def load_manifest(path: Path) -> dict[str, Entry]:
    """Read a manifest file; a missing or corrupt one is an empty manifest (a cold start)."""
    try:
        data = json.loads(path.read_text())
        return {p: Entry(**e) for p, e in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def save_manifest(path: Path, manifest: dict[str, Entry]) -> None:
    """Write a manifest atomically (temp file + rename)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": 1, "files": {p: asdict(e) for p, e in manifest.items()}}))
    os.replace(tmp, path)


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def safe_relative(rel: str) -> bool:
    """True if an S3-derived path stays inside the folder: the storage layer's own rule (split_path)."""
    try:
        split_path(rel)
    except ValidationError:
        return False
    return True


class S3Sync:
    """Moves one user's workspace between S3 (`prefix` in `bucket`) and a local folder."""

    def __init__(self, client: Any, bucket: str, prefix: str, workers: int = WORKERS):
        self.client, self.bucket, self.prefix, self.workers = client, bucket, prefix, workers
        self.requests = 0  # S3 calls made, for the benchmark and the tests
        self._lock = threading.Lock()

    def _count(self) -> None:
        with self._lock:
            self.requests += 1

    # ---- restore -------------------------------------------------------------------------------

    def listing(self) -> dict[str, tuple[str, int]]:
        """Every object under the prefix as {relative path: (etag, size)}; folder markers end in '/'."""
        objects: dict[str, tuple[str, int]] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            self._count()
            for obj in page.get("Contents", []):
                objects[obj["Key"][len(self.prefix):]] = (obj["ETag"], obj["Size"])
        return objects

    def restore(self, root: Path, manifest: dict[str, Entry], scratch: Path) -> dict[str, Entry]:
        """Make `root` equal to S3, downloading only what differs from `manifest`; return the new manifest."""
        remote = self.listing()
        local = scan(root)
        for rel in local.special_paths:
            (root / rel).unlink(missing_ok=True)
        fresh: dict[str, Entry] = {}
        wanted: list[tuple[str, str]] = []
        for rel, (etag, _size) in remote.items():
            if rel.endswith("/"):
                if safe_relative(rel.rstrip("/")):
                    (root / rel).mkdir(parents=True, exist_ok=True)
                continue
            if not safe_relative(rel):
                continue
            known, seen = manifest.get(rel), local.files.get(rel)
            if known and known.etag == etag and seen and seen.size == known.size and seen.mtime_ns == known.mtime_ns:
                fresh[rel] = known
            else:
                wanted.append((rel, etag))
        for rel in set(local.files) - {r for r in remote if not r.endswith("/")}:
            (root / rel).unlink(missing_ok=True)  # deleted in S3 since (or never synced): match S3
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for rel, entry in pool.map(lambda item: self._download(root, scratch, *item), wanted):
                fresh[rel] = entry
        return fresh

    def _download(self, root: Path, scratch: Path, rel: str, etag: str) -> tuple[str, Entry]:
        """Stream one object to a temp file, then rename it into place (readers never see a part)."""
        response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + rel)
        self._count()
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=scratch)
        try:
            with os.fdopen(fd, "wb") as out:
                for block in response["Body"].iter_chunks(CHUNK):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        info = target.stat()
        return rel, Entry(size, digest.hexdigest(), response.get("ETag", etag), info.st_mtime_ns)

    # ---- push ----------------------------------------------------------------------------------

    def push(self, root: Path, manifest: dict[str, Entry], run_id: str = "") -> SyncReport:
        """Upload new and changed files, delete removed ones; every change conditional on what we restored."""
        report = SyncReport(manifest=dict(manifest))
        current = scan(root)
        report.skipped = current.skipped
        uploads: list[tuple[str, Entry | None, str]] = []
        for rel, info in current.files.items():
            known = manifest.get(rel)
            if known and known.size == info.size and known.mtime_ns == info.mtime_ns:
                continue  # untouched: not even hashed
            digest = file_sha256(root / rel)
            if known and known.sha256 == digest and known.size == info.size:
                report.manifest[rel] = Entry(known.size, known.sha256, known.etag, info.mtime_ns)
                continue
            uploads.append((rel, known, digest))
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(lambda item: self._push_one(root, report, run_id, *item), uploads))
        for rel in sorted(set(manifest) - set(current.files)):
            self._delete_one(report, rel, manifest[rel])
        report.changed.sort()
        report.failed.sort()
        report.requests = self.requests
        return report

    def _push_one(self, root: Path, report: SyncReport, run_id: str, rel: str, known: Entry | None,
                  digest: str) -> None:
        path = root / rel
        condition = {"IfMatch": known.etag} if known else {"IfNoneMatch": "*"}
        try:
            etag = self.upload(path, rel, condition)
        except ClientError as error:
            if not _precondition_failed(error):
                report.failed.append(rel)
                return
            # Another run of this user changed the object meanwhile: keep theirs, save ours beside it.
            rel = conflict_name(rel, run_id)
            try:
                etag = self.upload(path, rel, {"IfNoneMatch": "*"})
            except (ClientError, BotoCoreError, OSError):
                report.failed.append(rel)
                return
            report.conflicts.append(rel)
        except (BotoCoreError, OSError):
            report.failed.append(rel)
            return
        info = path.stat()
        if rel in report.conflicts:
            report.changed.append(rel)
            return
        report.manifest[rel] = Entry(info.st_size, digest, etag, info.st_mtime_ns)
        report.changed.append(rel)

    def _delete_one(self, report: SyncReport, rel: str, known: Entry) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + rel, IfMatch=known.etag)
            self._count()
        except ClientError as error:
            self._count()
            if not _precondition_failed(error) and error.response.get("Error", {}).get("Code") != "NoSuchKey":
                report.failed.append(rel)
                return
            # changed by another run meanwhile (keep it), or already gone: nothing to do either way
        except BotoCoreError:
            report.failed.append(rel)
            return
        report.manifest.pop(rel, None)
        report.changed.append(rel)

    def upload(self, path: Path, rel: str, condition: dict[str, str]) -> str:
        """Upload one file (multipart when large, streamed either way); returns the new ETag.

        S3 makes an object visible only when its PUT or CompleteMultipartUpload succeeds, so a failure
        part-way leaves the previous version in place.
        """
        key = self.prefix + rel
        size = path.stat().st_size
        if size <= PART_SIZE:
            with open(path, "rb") as body:
                self._count()
                return self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **condition)["ETag"]
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        self._count()
        try:
            parts = []
            with open(path, "rb") as body:
                number = 1
                while block := body.read(PART_SIZE):
                    part = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                   PartNumber=number, Body=block)
                    self._count()
                    parts.append({"PartNumber": number, "ETag": part["ETag"]})
                    number += 1
            done = self.client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                         MultipartUpload={"Parts": parts}, **condition)
            self._count()
            return done["ETag"]
        except BaseException:
            # if the abort fails too, the bucket's lifecycle rule removes the abandoned parts
            with contextlib.suppress(ClientError, BotoCoreError):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise


def conflict_name(rel: str, run_id: str) -> str:
    """'dir/report.txt' -> 'dir/report (conflict 20250101-120000 ab12).txt'."""
    path = PurePosixPath(rel)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    tag = f" (conflict {stamp}{' ' + run_id[:6] if run_id else ''})"
    return str(path.with_name(path.stem + tag + path.suffix))


def _precondition_failed(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412)
