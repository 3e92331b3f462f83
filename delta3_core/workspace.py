"""One user's workspace: checked paths, quota, text reads for the model, zip export, a short listing."""

from __future__ import annotations

import shutil
import tempfile
import time
import zipfile
from typing import BinaryIO

from .errors import NotFoundError, QuotaExceededError, ValidationError
from .storage.base import Backend, FileInfo

MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 1024
MODEL_READ_LIMIT = 100 * 1024  # what one read_file may put in front of the model
_SNIFF_BYTES = 8192
_SPOOL_MAX = 16 * 1024 * 1024  # zip exports larger than this spill to a temp file
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")  # shown as pictures on every channel


def validate_path(path: str, allow_root: bool = False) -> str:
    """Return `path` as a normalised relative posix path inside the workspace; ValidationError if not.

    With allow_root, the workspace itself ('.', '') is accepted and returned as '.'.
    """
    if not isinstance(path, str):
        raise ValidationError("A file path must be text.")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise ValidationError("File paths cannot contain control characters.")
    if "\\" in path:  # on some systems '\' separates folders: '..\\x' must not slip through
        raise ValidationError("Use '/' to separate folders in a file path, not '\\'.")
    if path.startswith("/"):
        raise ValidationError("Use a path relative to your workspace, not an absolute one.")
    if path == "~" or path.startswith("~/"):
        raise ValidationError("Use a path relative to your workspace; '~' is not a folder there.")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("That file path is not valid text.") from None
    if len(path.encode("utf-8")) > MAX_PATH_BYTES * 4:  # don't spend effort splitting megabytes
        raise ValidationError(f"That file path is too long (at most {MAX_PATH_BYTES} bytes).")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise ValidationError("That path leads outside your workspace.")
            parts.pop()
            continue
        if not part.strip():
            raise ValidationError("A file or folder name cannot be only spaces.")
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise ValidationError(f"A file or folder name is too long (at most {MAX_COMPONENT_BYTES} bytes).")
        parts.append(part)
    result = "/".join(parts)
    if len(result.encode("utf-8")) > MAX_PATH_BYTES:
        raise ValidationError(f"That file path is too long (at most {MAX_PATH_BYTES} bytes).")
    if not result:
        if allow_root:
            return "."
        raise ValidationError("Give a file name, not the workspace folder itself.")
    return result


def human_size(size: float) -> str:
    """A size for people: 512 B, 3.4 KB, 12.0 MB, 1.2 GB."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # unreachable


def _read_upto(stream: BinaryIO, limit: int) -> bytes:
    """Read at most `limit` bytes, looping because streams may return short reads."""
    chunks, got = [], 0
    while got < limit:
        chunk = stream.read(limit - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class Workspace:
    """The files of one user, as the app and the model's tools see them."""

    def __init__(self, backend: Backend, user_id: str, quota_bytes: int):
        self.backend = backend
        self.user_id = user_id
        self.quota_bytes = quota_bytes

    def __repr__(self) -> str:
        return f"Workspace(user_id={self.user_id!r})"

    @property
    def _files(self):
        return self.backend.files

    def list(self) -> list[FileInfo]:
        """Every file and folder, recursively, sorted by path."""
        return self._files.list_files(self.user_id)

    def usage(self) -> int:
        """Bytes used by the workspace."""
        return self._files.usage_bytes(self.user_id)

    def read_bytes(self, path: str) -> bytes:
        """The whole content of a file."""
        return self._files.read_bytes(self.user_id, validate_path(path))

    def read_text(self, path: str, limit: int = MODEL_READ_LIMIT) -> str:
        """A text file's content; ValidationError for a binary file or one over `limit` bytes."""
        path = validate_path(path)
        stream = self._files.open_read(self.user_id, path)
        try:
            data = _read_upto(stream, limit + 1)
        finally:
            stream.close()
        if len(data) > limit:
            raise ValidationError(f"{path} is larger than {human_size(limit)}, too large to read whole; "
                                  "look at part of it with a command such as head or grep.")
        if b"\x00" in data[:_SNIFF_BYTES]:
            raise ValidationError(f"{path} is a binary file ({human_size(len(data))}) and cannot be shown as text.")
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError(f"{path} is not UTF-8 text ({human_size(len(data))}); "
                                  "it may be a binary file.") from None

    def write_text(self, path: str, text: str) -> FileInfo:
        """Write a UTF-8 text file (replacing it atomically); QuotaExceededError when full."""
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError("That text contains characters that cannot be saved as UTF-8.") from None
        return self.write_bytes(path, data)

    def write_bytes(self, path: str, data: bytes) -> FileInfo:
        """Write a file atomically; QuotaExceededError (old file kept) if the quota would be exceeded."""
        path = validate_path(path)
        self._check_quota(path, len(data))
        info = self._files.write_bytes(self.user_id, path, bytes(data))
        self._changed(path)
        return info

    def _changed(self, *paths: str) -> None:
        """Tell undo's local store which paths changed (its next code run reads them again)."""
        from .checkpoints.localstore import note_changed  # late: checkpoints imports this module

        note_changed(self._files, self.user_id, list(paths))

    def _check_quota(self, path: str, new_size: int) -> None:
        used = self.usage()
        if used + new_size <= self.quota_bytes:
            return
        # Near the limit: replacing a file frees its old size, so look it up (only in this rare case).
        old_size = next((f.size for f in self.list() if f.path == path and not f.is_dir), 0)
        if used - old_size + new_size > self.quota_bytes:
            raise QuotaExceededError(
                f"Your workspace is full: it uses {human_size(used)} of {human_size(self.quota_bytes)} "
                f"and {path} needs {human_size(new_size)}; delete some files first.")

    def delete(self, path: str) -> None:
        """Delete a file, or a folder with everything in it."""
        path = validate_path(path)
        self._files.delete(self.user_id, path)
        self._changed(path)

    def rename(self, src: str, dst: str) -> None:
        """Move or rename a file or folder."""
        src, dst = validate_path(src), validate_path(dst)
        if src == dst:
            return
        if dst.startswith(src + "/"):
            raise ValidationError("A folder cannot be moved inside itself.")
        self._files.rename(self.user_id, src, dst)
        self._changed(src, dst)

    def make_dir(self, path: str) -> None:
        """Create a folder (and its parents)."""
        self._files.make_dir(self.user_id, validate_path(path))

    def exists(self, path: str) -> bool:
        """True if a file or folder exists at `path`."""
        path = validate_path(path)
        return any(f.path == path for f in self.list())

    def write_zip(self, out: BinaryIO) -> int:
        """Write every file into `out` as a zip archive, streaming; return the number of files."""
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            return self.add_to_zip(archive)

    def add_to_zip(self, archive: zipfile.ZipFile, prefix: str = "") -> int:
        """Add every file under `prefix` in an open zip archive, streaming; return the number of files."""
        count = 0
        for info in self.list():
            stamp = time.gmtime(max(info.mtime, 315532800))[:6]  # zip dates start in 1980
            if info.is_dir:
                archive.writestr(zipfile.ZipInfo(prefix + info.path + "/", date_time=stamp), b"")
                continue
            entry = zipfile.ZipInfo(prefix + info.path, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            try:
                source = self._files.open_read(self.user_id, info.path)
            except NotFoundError:  # deleted while we were exporting: leave it out
                continue
            try:
                with archive.open(entry, "w", force_zip64=True) as target:
                    shutil.copyfileobj(source, target, 1024 * 1024)
            finally:
                source.close()
            count += 1
        return count

    def export_zip(self) -> bytes:
        """The whole workspace as zip bytes (built in a spooled temp file, not one big string)."""
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MAX) as spool:
            self.write_zip(spool)
            spool.seek(0)
            return spool.read()

    def describe(self, max_entries: int = 200) -> str:
        """A bounded listing for the model's prompt: one 'path (size)' line per entry."""
        entries = self.list()
        if not entries:
            return "The workspace is empty."
        files = [e for e in entries if not e.is_dir]
        total = sum(e.size for e in files)
        lines = [f"Workspace: {len(files)} files, {human_size(total)} of {human_size(self.quota_bytes)} used."]
        for entry in entries[:max_entries]:
            lines.append(f"{entry.path}/" if entry.is_dir else f"{entry.path} ({human_size(entry.size)})")
        if len(entries) > max_entries:
            lines.append(f"... and {len(entries) - max_entries} more")
        return "\n".join(lines)
