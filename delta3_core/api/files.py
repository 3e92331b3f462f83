"""/files: list, read and write workspace files, with the same path checks and quota as the other channels."""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import BaseModel, Field

from ..errors import NotFoundError
from ..workspace import validate_path
from .auth import iso
from .framework import Call, Model, operation
from .problems import Problem

READ_LIMIT = 10 * 1024 * 1024  # bigger files come whole from GET /files/download, not inside JSON
_SNIFF = 8192


class PathQuery(Model):
    path: str = Field(".", max_length=4096, description="a folder (or file) relative to the workspace root")


class FileEntry(BaseModel):
    path: str
    size: int
    modified: str
    is_dir: bool


class Listing(BaseModel):
    files: list[FileEntry]
    used_bytes: int
    quota_bytes: int


class PathBody(Model):
    path: str = Field(max_length=4096, examples=["hello.py"])


class FileContent(BaseModel):
    path: str
    content: str
    encoding: Literal["utf-8", "base64"]
    size: int


class WriteBody(Model):
    path: str = Field(max_length=4096, examples=["hello.py"])
    content: str = Field(description="the whole new content")
    encoding: Literal["utf-8", "base64"] = "utf-8"


class Written(BaseModel):
    path: str
    size: int


def file_limit(call: Call) -> int:
    """The largest file the API accepts, in bytes (the per-file limit of code runs)."""
    return call.services.settings.run_file_mb * 1024 * 1024


@operation("GET", "/files/list", summary="List workspace files", tag="files", query=PathQuery, response=Listing,
           errors=(404,))
def list_files(call: Call) -> Listing:
    """Every file and folder under `path` (default: the whole workspace), recursively, sorted by path."""
    ws = call.workspace()
    folder = validate_path(call.query.path, allow_root=True)
    entries = ws.list()
    if folder != ".":
        entries = [e for e in entries if e.path == folder or e.path.startswith(folder + "/")]
        if not entries:
            raise NotFoundError(f"There is no file or folder {folder} in your workspace.")
    used = sum(e.size for e in entries if not e.is_dir) if folder == "." else ws.usage()
    return Listing(files=[FileEntry(path=e.path, size=e.size, modified=iso(e.mtime), is_dir=e.is_dir)
                          for e in entries], used_bytes=used, quota_bytes=ws.quota_bytes)


def decode_content(data: bytes) -> tuple[str, str]:
    """(content, encoding): UTF-8 text as is, anything else (NUL bytes, invalid UTF-8) as base64."""
    if b"\x00" not in data[:_SNIFF]:
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    return base64.b64encode(data).decode("ascii"), "base64"


@operation("POST", "/files/read", summary="Read a file", tag="files", body=PathBody, response=FileContent,
           errors=(404, 409))
def read_file(call: Call) -> FileContent:
    """A file's whole content: text as UTF-8, binary as base64 (files over 10 MB: use GET /files/download)."""
    path = validate_path(call.body.path)
    ws = call.workspace()
    stream = ws.backend.files.open_read(ws.user_id, path)
    try:
        data = stream.read(READ_LIMIT + 1)
    finally:
        stream.close()
    if len(data) > READ_LIMIT:
        raise Problem(413, f"{path} is larger than 10 MB; download it with GET /files/download instead.")
    content, encoding = decode_content(data)
    return FileContent(path=path, content=content, encoding=encoding, size=len(data))


@operation("POST", "/files/write", summary="Write a file", tag="files", body=WriteBody, response=Written,
           errors=(409,), max_body=lambda settings: settings.run_file_mb * 1024 * 1024 * 4 // 3 + 64 * 1024)
def write_file(call: Call) -> Written:
    """Create or replace a file atomically; 413 if it is over the per-file limit or the quota is full."""
    body = call.body
    if body.encoding == "base64":
        try:
            data = base64.b64decode(body.content, validate=True)
        except (binascii.Error, ValueError):
            raise Problem(422, "The content is not valid base64.") from None
    else:
        try:
            data = body.content.encode("utf-8")
        except UnicodeEncodeError:
            raise Problem(422, "The content contains characters that cannot be saved as UTF-8.") from None
    if len(data) > file_limit(call):
        raise Problem(413, f"A file can be at most {call.services.settings.run_file_mb} MB.")
    info = call.workspace().write_bytes(body.path, data)
    return Written(path=info.path, size=len(data))


@operation("POST", "/files/delete", summary="Delete a file or folder", tag="files", body=PathBody, status=204,
           errors=(404,))
def delete_file(call: Call) -> None:
    """Delete a file, or a folder with everything in it."""
    call.workspace().delete(call.body.path)
