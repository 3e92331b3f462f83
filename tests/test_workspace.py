"""Workspace: path checks, reads for the model, quota, zip export, listing for the prompt."""

from __future__ import annotations

import contextlib
import io
import os
import zipfile

import pytest

from delta3_core.errors import Delta3Error, NotFoundError, QuotaExceededError, ValidationError
from delta3_core.workspace import MODEL_READ_LIMIT, Workspace, validate_path

USER = "user-ada"


@pytest.fixture
def ws(backend):
    return Workspace(backend, USER, quota_bytes=10 * 1024 * 1024)


# ---------------------------------------------------------------- paths

@pytest.mark.parametrize(("raw", "clean"), [
    ("notes.txt", "notes.txt"),
    ("./src//app/./main.py", "src/app/main.py"),
    ("src/../README.md", "README.md"),
    ("a/b/", "a/b"),
    ("données/été.txt", "données/été.txt"),
])
def test_paths_are_normalised(raw, clean):
    assert validate_path(raw) == clean


@pytest.mark.parametrize(("raw", "why"), [
    ("../x", "outside your workspace"),
    ("a/../../b", "outside your workspace"),
    ("..", "outside your workspace"),
    ("/etc/passwd", "relative"),
    ("~/.ssh/id_rsa", "relative"),
    ("..\\..\\etc\\passwd", "'/'"),
    ("a\\b", "'/'"),
    ("evil\x00.txt", "control characters"),
    ("line\nbreak.txt", "control characters"),
    ("x" * 256, "too long"),
    ("/".join(["abcdefghij"] * 100), "too long"),
    ("a/" * 5000 + "b", "too long"),
    ("", "file name"),
    (".", "file name"),
    ("a/..", "file name"),
    ("   ", "only spaces"),
    ("\udcff.txt", "not valid text"),
])
def test_bad_paths_are_refused_with_the_reason(raw, why):
    with pytest.raises(ValidationError, match=why):
        validate_path(raw)


def test_the_workspace_root_is_allowed_only_when_asked():
    assert validate_path(".", allow_root=True) == "."
    assert validate_path("", allow_root=True) == "."
    with pytest.raises(ValidationError):
        validate_path("../", allow_root=True)


@pytest.mark.parametrize("path", ["../escape.txt", "/tmp/escape.txt", "a/../../escape.txt", "a\x00b"])
def test_traversal_writes_touch_nothing(ws, tmp_path, path):
    with pytest.raises(ValidationError):
        ws.write_text(path, "pwned")
    assert ws.list() == []
    assert not (tmp_path / "escape.txt").exists() and not os.path.exists("/tmp/escape.txt")


def test_a_symlink_out_of_the_workspace_is_never_followed(backend, ws, tmp_path):
    root = backend.files.local_root(USER)
    if root is None:
        pytest.skip("only the local backend has a folder on this host")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("host secret")
    os.symlink(outside / "secret.txt", root / "link.txt")
    os.symlink(outside, root / "linkdir")
    with pytest.raises(Delta3Error):
        ws.read_text("link.txt")
    with pytest.raises(Delta3Error):
        ws.read_text("linkdir/secret.txt")
    for path in ("link.txt", "linkdir/secret.txt", "linkdir/new.txt"):
        with contextlib.suppress(Delta3Error):  # refusing or replacing the link itself are both fine
            ws.write_text(path, "overwritten")
    assert (outside / "secret.txt").read_text() == "host secret"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert "host secret" not in ws.describe()
    names = zipfile.ZipFile(io.BytesIO(ws.export_zip())).namelist()
    assert not any(name.startswith("linkdir/") for name in names)


# ---------------------------------------------------------------- reading and writing

def test_write_read_list_and_usage(ws):
    ws.write_text("src/main.py", "print('hi')\n")
    ws.write_bytes("data/blob.bin", b"\x00\x01\x02")
    assert ws.read_text("./src/main.py") == "print('hi')\n"
    assert ws.read_bytes("data/blob.bin") == b"\x00\x01\x02"
    files = {f.path: f for f in ws.list() if not f.is_dir}
    assert set(files) == {"src/main.py", "data/blob.bin"}
    assert files["src/main.py"].size == 12
    assert ws.usage() == 15


def test_reading_a_missing_file_says_so(ws):
    with pytest.raises(NotFoundError, match="nope.txt"):
        ws.read_text("nope.txt")


def test_files_too_large_for_the_model_get_a_clear_message(ws):
    ws.write_text("exact.txt", "a" * MODEL_READ_LIMIT)
    ws.write_text("big.log", "a" * (MODEL_READ_LIMIT + 1))
    assert len(ws.read_text("exact.txt")) == MODEL_READ_LIMIT
    with pytest.raises(ValidationError, match=r"big.log is larger than 100.0 KB.*head"):
        ws.read_text("big.log")
    assert len(ws.read_bytes("big.log")) == MODEL_READ_LIMIT + 1  # the file itself is fine


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"caf\xe9 latin-1"])
def test_binary_files_are_not_shown_as_text(ws, data):
    ws.write_bytes("image.png", data)
    with pytest.raises(ValidationError, match="binary"):
        ws.read_text("image.png")


def test_utf8_text_with_a_bom_reads_cleanly(ws):
    ws.write_bytes("win.txt", "\ufeffhello é".encode())
    assert ws.read_text("win.txt") == "hello é"


def test_quota_full_refuses_the_write_and_keeps_the_old_file(backend):
    ws = Workspace(backend, USER, quota_bytes=1000)
    ws.write_bytes("a.txt", b"a" * 600)
    ws.write_bytes("b.txt", b"b" * 300)
    with pytest.raises(QuotaExceededError) as full:
        ws.write_bytes("c.txt", b"c" * 200)
    assert "900 B of 1000 B" in str(full.value) and "c.txt" in str(full.value)
    with pytest.raises(QuotaExceededError):
        ws.write_bytes("a.txt", b"A" * 800)  # replacing a.txt would still need 1100 B
    assert ws.read_bytes("a.txt") == b"a" * 600
    assert sorted(f.path for f in ws.list()) == ["a.txt", "b.txt"]
    ws.write_bytes("a.txt", b"A" * 700)  # replacing frees the old size: 1000 B fits exactly
    assert ws.usage() == 1000


def test_delete_rename_and_make_dir(ws):
    ws.make_dir("project/src")
    ws.write_text("project/src/app.py", "x = 1\n")
    ws.rename("project", "renamed")
    assert ws.read_text("renamed/src/app.py") == "x = 1\n"
    assert not ws.exists("project/src/app.py")
    with pytest.raises(ValidationError, match="inside itself"):
        ws.rename("renamed", "renamed/sub/renamed")
    with pytest.raises(ValidationError):
        ws.rename("renamed", "../stolen")
    ws.delete("renamed")
    assert ws.list() == []
    with pytest.raises(NotFoundError):
        ws.delete("renamed")


def test_users_have_separate_workspaces(backend, ws):
    ws.write_text("mine.txt", "ada's")
    other = Workspace(backend, "user-grace", quota_bytes=1000)
    assert other.list() == []
    with pytest.raises(NotFoundError):
        other.read_text("mine.txt")


# ---------------------------------------------------------------- export and listing

def test_zip_export_holds_every_file_and_folder(ws):
    ws.write_text("README.md", "# hello\n")
    ws.write_bytes("data/raw.bin", bytes(range(256)) * 100)
    ws.make_dir("empty")
    archive = zipfile.ZipFile(io.BytesIO(ws.export_zip()))
    assert archive.testzip() is None
    assert archive.read("README.md") == b"# hello\n"
    assert archive.read("data/raw.bin") == bytes(range(256)) * 100
    assert "empty/" in archive.namelist()


def test_zip_export_of_an_empty_workspace_is_a_valid_empty_zip(ws):
    assert zipfile.ZipFile(io.BytesIO(ws.export_zip())).namelist() == []


def test_describe_is_bounded_for_the_prompt(ws):
    assert ws.describe() == "The workspace is empty."
    for i in range(12):
        ws.write_text(f"f{i:02d}.txt", "x" * (i + 1))
    text = ws.describe(max_entries=5)
    lines = text.splitlines()
    assert lines[0].startswith("Workspace: 12 files, 78 B")
    assert lines[1:6] == ["f00.txt (1 B)", "f01.txt (2 B)", "f02.txt (3 B)", "f03.txt (4 B)", "f04.txt (5 B)"]
    assert lines[-1] == "... and 7 more"
