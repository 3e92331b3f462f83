"""S3FileStore: workspace files as objects `users/<id>/workspace/<path>` in one bucket.

A folder is a zero-byte `<path>/` marker object (folders that only hold files are implied by
their keys and listed too). A put is atomic in S3, so a reader sees the old or the new object.
Rename is copy then delete; if the delete fails the copy is removed again, so a failure leaves
the source as it was. Deleting a folder batch-deletes its prefix.
"""

from __future__ import annotations

import io
import time
from contextlib import suppress
from typing import Any, BinaryIO

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import ConflictError, NotFoundError, StorageError, ValidationError
from .base import FileInfo
from .codec import aws_client, split_path, storage_errors, user_prefix, workspace_prefix

_BATCH = 1000  # DeleteObjects takes at most 1000 keys


# botocore failures become a plain StorageError (nothing half-written is kept).
_s3_errors = storage_errors((ClientError, BotoCoreError),
                            lambda _exc: "The file store (S3) failed, so nothing was changed; please try again.")


def _missing(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey",
                                                                                         "NotFound"}


class S3FileStore:
    """FileStore on S3 (layout in the module docstring)."""

    def __init__(self, bucket: str, client: Any = None):
        self.bucket = bucket
        self.client = aws_client("s3", client)

    def prefix(self, user_id: str) -> str:
        """The key prefix of the user's workspace, ending in '/'."""
        return workspace_prefix(user_id)

    def local_root(self, user_id: str) -> None:
        return None

    def _objects(self, prefix: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(page.get("Contents", []))
        return found

    def _exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _missing(exc):
                return False
            raise
        return True

    def _is_folder(self, user_id: str, path: str) -> bool:
        page = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix(user_id) + path + "/", MaxKeys=1)
        return bool(page.get("Contents"))

    def _check_parents(self, user_id: str, parts: list[str]) -> None:
        """ConflictError if a file sits where one of the parent folders should be."""
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if self._exists(self.prefix(user_id) + parent):
                raise ConflictError(f"{parent} is a file, not a folder.")

    @_s3_errors
    def list_files(self, user_id: str) -> list[FileInfo]:
        """Every file and folder (marked or implied), sorted by path."""
        prefix = self.prefix(user_id)
        entries: dict[str, FileInfo] = {}
        for obj in self._objects(prefix):
            rel = obj["Key"][len(prefix):]
            mtime = obj["LastModified"].timestamp()
            is_marker = rel.endswith("/")
            rel = rel.rstrip("/")
            if not rel:
                continue
            parts = rel.split("/")
            for i in range(1, len(parts)):  # implied folders
                folder = "/".join(parts[:i])
                entries.setdefault(folder, FileInfo(folder, 0, mtime, is_dir=True))
            if is_marker:
                entries.setdefault(rel, FileInfo(rel, 0, mtime, is_dir=True))
            else:
                entries[rel] = FileInfo(rel, int(obj["Size"]), mtime)
        return sorted(entries.values(), key=lambda info: info.path)

    @_s3_errors
    def read_bytes(self, user_id: str, path: str) -> bytes:
        split_path(path)
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.prefix(user_id) + path)["Body"]
        except Exception as exc:
            if not _missing(exc):
                raise
            if self._is_folder(user_id, path):
                raise ValidationError(f"{path} is a folder.") from None
            raise NotFoundError(f"{path} does not exist.") from None
        with body:
            return body.read()

    def open_read(self, user_id: str, path: str) -> BinaryIO:
        return io.BytesIO(self.read_bytes(user_id, path))

    @_s3_errors
    def write_bytes(self, user_id: str, path: str, data: bytes) -> FileInfo:
        """One PutObject: atomic in S3."""
        parts = split_path(path)
        if self._is_folder(user_id, path):
            raise ConflictError(f"{path} is a folder.")
        self._check_parents(user_id, parts)
        self.client.put_object(Bucket=self.bucket, Key=self.prefix(user_id) + path, Body=data)
        return FileInfo(path, len(data), time.time())

    @_s3_errors
    def delete(self, user_id: str, path: str) -> None:
        """Delete a file, or a folder's whole prefix; NotFoundError if neither exists."""
        split_path(path)
        key = self.prefix(user_id) + path
        if self._exists(key):
            self.client.delete_object(Bucket=self.bucket, Key=key)
            return
        keys = [obj["Key"] for obj in self._objects(key + "/")]
        if not keys:
            raise NotFoundError(f"{path} does not exist.")
        self._delete_keys(keys)

    def _delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), _BATCH):
            chunk = [{"Key": k} for k in keys[start:start + _BATCH]]
            result = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})
            if result.get("Errors"):
                raise StorageError("Some files could not be deleted from S3; please try again.")

    @_s3_errors
    def rename(self, user_id: str, src: str, dst: str) -> None:
        """Copy then delete; on failure the copies are removed so src stays as it was."""
        src_parts, dst_parts = split_path(src), split_path(dst)
        if dst_parts[: len(src_parts)] == src_parts:
            raise ValidationError(f"Cannot move {src} inside itself.")
        prefix = self.prefix(user_id)
        if self._exists(prefix + src):
            moves = [(prefix + src, prefix + dst)]
        else:
            moves = [(obj["Key"], prefix + dst + obj["Key"][len(prefix + src):])
                     for obj in self._objects(prefix + src + "/")]
            if not moves:
                raise NotFoundError(f"{src} does not exist.")
        if self._exists(prefix + dst) or self._is_folder(user_id, dst):
            raise ConflictError(f"{dst} already exists.")
        self._check_parents(user_id, dst_parts)
        copied: list[str] = []
        try:
            for old, new in moves:
                self.client.copy_object(Bucket=self.bucket, Key=new, CopySource={"Bucket": self.bucket, "Key": old})
                copied.append(new)
            self._delete_keys([old for old, _ in moves])
        except Exception:
            self._undo_copies(copied, [old for old, _ in moves])
            raise

    def _undo_copies(self, copied: list[str], sources: list[str]) -> None:
        """Remove the copies of sources that still exist, so a failed rename changes nothing."""
        still_there = [new for new, old in zip(copied, sources, strict=False) if self._exists_quietly(old)]
        with suppress(Exception):  # best effort: the source is intact either way, which is what matters
            self._delete_keys(still_there)

    def _exists_quietly(self, key: str) -> bool:
        try:
            return self._exists(key)
        except Exception:
            return True  # unknown: assume the source is there, so its copy is the one to remove

    @_s3_errors
    def make_dir(self, user_id: str, path: str) -> None:
        """Write a `<path>/` marker; fine if the folder exists, ConflictError if a file is in the way."""
        parts = split_path(path)
        self._check_parents(user_id, parts + ["_"])
        self.client.put_object(Bucket=self.bucket, Key=self.prefix(user_id) + path + "/", Body=b"")

    @_s3_errors
    def usage_bytes(self, user_id: str) -> int:
        return sum(int(obj["Size"]) for obj in self._objects(self.prefix(user_id)))

    # -- account deletion (accounts) ----------------------------------------------------
    @_s3_errors
    def purge_user(self, user_id: str) -> None:
        """Delete every object version and delete marker under `users/<id>/` (undo checkpoints too)."""
        prefix = user_prefix(user_id)
        for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix):
            found = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                     for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            for start in range(0, len(found), _BATCH):
                result = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": found[start:start + _BATCH], "Quiet": True})
                if result.get("Errors"):
                    raise StorageError("Some files could not be deleted from S3; please try again.")
