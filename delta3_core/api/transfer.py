"""/files raw transfers: download one file, upload files (multipart), export the workspace as a zip."""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import quote

from pydantic import BaseModel, Field

from ..workspace import validate_path
from .auth import iso
from .files import FileEntry, PathQuery, file_limit
from .framework import Call, Reply, operation
from .problems import Problem

CHUNK = 256 * 1024
BINARY = {"type": "string", "format": "binary"}
UPLOAD_FORM = {"type": "object", "required": ["file"], "properties": {
    "file": {"type": "array", "items": BINARY, "description": "one or more files (each part's filename is kept)"},
    "path": {"type": "string", "description": "the folder to save them in (default: the workspace root)"}}}


class Uploaded(BaseModel):
    files: list[FileEntry] = Field(description="what was saved, in the order sent")


def attachment(name: str) -> dict[str, str]:
    """Headers that make browsers save the bytes as a file and never render them as a page of this site."""
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_") or "download"
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
            "X-Content-Type-Options": "nosniff"}


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := stream.read(CHUNK):
            yield chunk
    finally:
        stream.close()


@operation("GET", "/files/download", summary="Download a file", tag="files", query=PathQuery, errors=(404, 409),
           media={"application/octet-stream": BINARY})
def download(call: Call) -> Reply:
    """A file's raw bytes, as an attachment."""
    path = validate_path(call.query.path)
    ws = call.workspace()
    stream = ws.backend.files.open_read(ws.user_id, path)
    return Reply(_chunks(stream), media_type="application/octet-stream", headers=attachment(posixpath.basename(path)))


@operation("POST", "/files/upload", summary="Upload files", tag="files", response=Uploaded, status=201,
           errors=(409,), multipart=UPLOAD_FORM, max_body=lambda settings: (settings.run_file_mb + 1) * 1024 * 1024)
def upload(call: Call) -> Uploaded:
    """Save files sent as multipart/form-data (field `file`, several allowed) into the folder `path`."""
    folder = validate_path(call.request.form.get("path") or ".", allow_root=True)
    parts = [u for u in call.request.uploads if u.field == "file"]
    if not parts:
        raise Problem(422, "Attach at least one file in a multipart field named 'file'.")
    limit, ws, saved = file_limit(call), call.workspace(), []
    for part in parts:
        name = posixpath.basename(part.filename.replace("\\", "/"))
        if not name:
            raise Problem(422, "Every file part needs a filename.")
        data = part.stream.read(limit + 1)
        if len(data) > limit:
            raise Problem(413, f"{name} is over {call.services.settings.run_file_mb} MB, the most a file can be.")
        path = validate_path(name if folder == "." else f"{folder}/{name}")
        info = ws.write_bytes(path, data)
        saved.append(FileEntry(path=path, size=len(data), modified=iso(info.mtime), is_dir=False))
    return Uploaded(files=saved)


@operation("GET", "/files/export", summary="Download the workspace as a zip", tag="files",
           media={"application/zip": BINARY})
def export(call: Call) -> Reply:
    """Every file of the workspace in one zip archive."""
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 (closed by _chunks when sent)
    call.workspace().write_zip(spool)
    spool.seek(0)
    return Reply(_chunks(spool), media_type="application/zip", headers=attachment("workspace.zip"))
