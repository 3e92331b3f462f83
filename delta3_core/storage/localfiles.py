"""LocalFileStore: one folder per user, walked by file descriptor so no symlink is ever followed."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from ..errors import ConflictError, NotFoundError, StorageError, ValidationError
from .base import FileInfo
from .codec import split_path, storage_errors, user_prefix, workspace_prefix
from .nofollow import DIR_FLAGS, walk

TMP_PREFIX = ".delta3-tmp-"  # in-flight atomic writes; never listed


def _os_failure(exc: Exception) -> str:
    reason = "the disk is full" if getattr(exc, "errno", None) == errno.ENOSPC else "the file system refused"
    return f"The workspace operation failed because {reason}; nothing was changed."


# An unexpected OSError (disk full, permissions, I/O) becomes a plain StorageError.
_storage_errors = storage_errors(OSError, _os_failure)


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _open_child_dir(parent: int, name: str, shown: str, create: bool) -> int:
    """Open folder `name` inside `parent` without following a symlink (creating it if asked)."""
    for _attempt in range(3):
        try:
            return os.open(name, DIR_FLAGS, dir_fd=parent)
        except OSError:
            st = _lstat(name, parent)
            if st is None and create:
                with suppress(FileExistsError):  # someone else made it first: open theirs
                    os.mkdir(name, 0o755, dir_fd=parent)
                continue
            if st is None:
                raise NotFoundError(f"{shown} does not exist.") from None
            if stat.S_ISLNK(st.st_mode):
                raise ValidationError(f"{shown} is a symbolic link; links are not followed.") from None
            if not stat.S_ISDIR(st.st_mode):
                raise ConflictError(f"{shown} is a file, not a folder.") from None
            raise
    raise StorageError(f"{shown} keeps changing; please try again.")


class LocalFileStore:
    """FileStore on the local disk: `<root>/users/<id>/workspace/<path>`."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def local_root(self, user_id: str) -> Path:
        """The user's workspace folder (created on first use)."""
        workspace = self.root / workspace_prefix(user_id)
        workspace.mkdir(parents=True, exist_ok=True, mode=0o700)
        return workspace

    @contextmanager
    def _dir(self, user_id: str, parts: list[str], create: bool = False) -> Iterator[int]:
        """A descriptor for folder `parts` of the workspace, every component opened with O_NOFOLLOW."""
        fd = os.open(self.local_root(user_id), DIR_FLAGS)
        try:
            for i, part in enumerate(parts):
                child = _open_child_dir(fd, part, "/".join(parts[: i + 1]), create)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    @_storage_errors
    def list_files(self, user_id: str) -> list[FileInfo]:
        """Every file and folder, recursively, sorted by path; symlinks and special files are skipped."""
        found: list[FileInfo] = []
        for rel_dir, _fd, entries in walk(self.local_root(user_id)):
            entries[:] = [(name, st) for name, st in entries if not name.startswith(TMP_PREFIX)]
            for name, st in entries:
                path = f"{rel_dir}/{name}" if rel_dir else name
                if stat.S_ISREG(st.st_mode):
                    found.append(FileInfo(path, st.st_size, st.st_mtime))
                elif stat.S_ISDIR(st.st_mode):
                    found.append(FileInfo(path, 0, st.st_mtime, is_dir=True))
        return sorted(found, key=lambda info: info.path)


    def _open_file(self, user_id: str, path: str) -> int:
        parts = split_path(path)
        with self._dir(user_id, parts[:-1]) as parent:
            try:
                fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=parent)
            except FileNotFoundError:
                raise NotFoundError(f"{path} does not exist.") from None
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise ValidationError(f"{path} is a symbolic link; links are not followed.") from None
                raise
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise ValidationError(f"{path} is {kind}.")
        return fd

    @_storage_errors
    def read_bytes(self, user_id: str, path: str) -> bytes:
        with os.fdopen(self._open_file(user_id, path), "rb") as handle:
            return handle.read()

    @_storage_errors
    def open_read(self, user_id: str, path: str) -> BinaryIO:
        return os.fdopen(self._open_file(user_id, path), "rb")

    @_storage_errors
    def write_bytes(self, user_id: str, path: str, data: bytes) -> FileInfo:
        """Write to a temp file, fsync, then rename over the target: readers never see a part."""
        parts = split_path(path)
        with self._dir(user_id, parts[:-1], create=True) as parent:
            target = _lstat(parts[-1], parent)
            if target is not None and stat.S_ISDIR(target.st_mode):
                raise ConflictError(f"{path} is a folder.")
            tmp = TMP_PREFIX + secrets.token_hex(8)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                         dir_fd=parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                    mtime = os.fstat(handle.fileno()).st_mtime
                # rename() replaces a symlink itself, never what it points to.
                os.replace(tmp, parts[-1], src_dir_fd=parent, dst_dir_fd=parent)
            except BaseException:
                with suppress(OSError):
                    os.unlink(tmp, dir_fd=parent)
                raise
            os.fsync(parent)  # make the rename itself durable
        return FileInfo(path, len(data), mtime)

    @_storage_errors
    def delete(self, user_id: str, path: str) -> None:
        """Delete a file or link, or a folder with everything in it; NotFoundError if absent."""
        parts = split_path(path)
        with self._dir(user_id, parts[:-1]) as parent:
            st = _lstat(parts[-1], parent)
            if st is None:
                raise NotFoundError(f"{path} does not exist.")
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(parts[-1], dir_fd=parent)  # fd-based: safe against symlinks inside
            else:
                os.unlink(parts[-1], dir_fd=parent)

    @_storage_errors
    def rename(self, user_id: str, src: str, dst: str) -> None:
        """Move a file or folder; NotFoundError if src is absent, ConflictError if dst exists."""
        src_parts, dst_parts = split_path(src), split_path(dst)
        if dst_parts[: len(src_parts)] == src_parts:
            raise ValidationError(f"Cannot move {src} inside itself.")
        with self._dir(user_id, src_parts[:-1]) as src_dir:
            if _lstat(src_parts[-1], src_dir) is None:
                raise NotFoundError(f"{src} does not exist.")
            with self._dir(user_id, dst_parts[:-1], create=True) as dst_dir:
                if _lstat(dst_parts[-1], dst_dir) is not None:
                    raise ConflictError(f"{dst} already exists.")
                os.rename(src_parts[-1], dst_parts[-1], src_dir_fd=src_dir, dst_dir_fd=dst_dir)

    @_storage_errors
    def make_dir(self, user_id: str, path: str) -> None:
        """Create a folder and its parents; fine if it exists, ConflictError if a file is in the way."""
        with self._dir(user_id, split_path(path), create=True):
            pass

    @_storage_errors
    def usage_bytes(self, user_id: str) -> int:
        return sum(info.size for info in self.list_files(user_id))

    # -- account deletion (accounts) ----------------------------------------------------
    @_storage_errors
    def purge_user(self, user_id: str) -> None:
        """Remove `<root>/users/<id>` with everything in it (workspace, checkpoints); fine if absent."""
        folder = self.root / user_prefix(user_id)
        if not os.path.lexists(folder):
            return
        # Code runs may leave folders without owner permissions; open them up first (links not followed).
        with suppress(OSError):
            os.chmod(folder, 0o700)
        for parent, dirs, _files in os.walk(folder):  # top-down: a folder is opened up before it is listed
            for name in dirs:
                path = os.path.join(parent, name)
                if not os.path.islink(path):
                    with suppress(OSError):
                        os.chmod(path, 0o700)
        shutil.rmtree(folder)  # fd-based on Linux: never follows a link out of the folder
