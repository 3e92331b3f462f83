"""Local backend specifics: symlinks never followed, special files skipped, migrations, threads."""

from __future__ import annotations

import os
import sqlite3
import threading

import pytest

from delta3_core.errors import ValidationError
from delta3_core.storage.base import Message
from delta3_core.storage.local import DB_FILE_NAME, SqliteRecordStore
from delta3_core.storage.localfiles import LocalFileStore
from delta3_core.storage.nofollow import MAX_DEPTH
from delta3_core.storage.sqlite import MIGRATIONS


@pytest.fixture
def files(local_backend):
    return local_backend.files


@pytest.fixture
def outside(tmp_path):
    target = tmp_path / "outside"
    target.mkdir()
    (target / "secret.txt").write_text("host secret")
    return target


def test_symlinked_folder_out_of_workspace_is_refused(files, outside):
    os.symlink(outside, files.local_root("u1") / "escape")
    for action in (lambda: files.read_bytes("u1", "escape/secret.txt"),
                   lambda: files.write_bytes("u1", "escape/new.txt", b"x"),
                   lambda: files.make_dir("u1", "escape/sub"),
                   lambda: files.rename("u1", "escape/secret.txt", "stolen.txt")):
        with pytest.raises(ValidationError, match="symbolic link"):
            action()
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "host secret"


def test_symlinked_file_is_neither_read_nor_written_through(files, outside):
    link = files.local_root("u1") / "passwd"
    os.symlink(outside / "secret.txt", link)
    with pytest.raises(ValidationError, match="symbolic link"):
        files.read_bytes("u1", "passwd")
    files.write_bytes("u1", "passwd", b"replaced")  # replaces the link itself, not its target
    assert (outside / "secret.txt").read_text() == "host secret"
    assert not link.is_symlink() and link.read_bytes() == b"replaced"


def test_deleting_a_folder_with_a_link_inside_keeps_the_target(files, outside):
    files.make_dir("u1", "junk")
    os.symlink(outside, files.local_root("u1") / "junk" / "link")
    files.delete("u1", "junk")
    assert (outside / "secret.txt").read_text() == "host secret"


def test_listing_skips_links_and_special_files(files, outside):
    root = files.local_root("u1")
    files.write_bytes("u1", "real.txt", b"ok")
    os.symlink(outside, root / "link")
    os.mkfifo(root / "pipe")
    assert [f.path for f in files.list_files("u1")] == ["real.txt"]
    with pytest.raises(ValidationError, match="not a regular file"):
        files.read_bytes("u1", "pipe")  # refused at once instead of blocking on the FIFO


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x", "a//b", "a\x00b", "", "./a"])
def test_unsafe_paths_are_refused(files, path):
    with pytest.raises(ValidationError):
        files.write_bytes("u1", path, b"x")


def test_unsafe_user_id_is_refused(files):
    with pytest.raises(ValidationError):
        files.list_files("../other")


def test_migrations_are_named_and_applied_once(tmp_path):
    first = SqliteRecordStore(tmp_path / DB_FILE_NAME)
    first.append_messages("u1", [Message("user", "kept")])
    first.close()
    again = SqliteRecordStore(tmp_path / DB_FILE_NAME)
    assert again.applied_migrations() == [name for name, _sql in MIGRATIONS]
    assert [m.content for m in again.recent_messages("u1", 5)] == ["kept"]
    mode = sqlite3.connect(tmp_path / DB_FILE_NAME).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_two_processes_worth_of_stores_share_one_database(tmp_path):
    stores = [SqliteRecordStore(tmp_path / DB_FILE_NAME) for _ in range(2)]

    def writer(store, name):
        for i in range(25):
            store.append_messages("u1", [Message("user", f"{name}{i}")])
            store.incr_counter("hits", 3600)

    threads = [threading.Thread(target=writer, args=(store, name)) for store, name in zip(stores, "ab", strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    got = stores[0].recent_messages("u1", 100)
    assert len(got) == 50 and [m.seq for m in got] == list(range(1, 51))
    assert stores[1].incr_counter("hits", 3600, 0) == 50


def test_the_database_files_are_readable_by_their_owner_only(tmp_path):
    store = SqliteRecordStore(tmp_path / "delta3.sqlite3")
    store.put_value("k", "v", 60)  # a write, so the WAL and shared-memory files exist
    for name in ("delta3.sqlite3", "delta3.sqlite3-wal", "delta3.sqlite3-shm"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
    store.close()


def test_listing_stops_at_folders_nested_without_end(tmp_path):
    files = LocalFileStore(tmp_path)
    deep = "/".join(["d"] * 100)
    (files.local_root("u1") / deep).mkdir(parents=True)
    listed = files.list_files("u1")
    assert max(info.path.count("/") for info in listed) + 1 == MAX_DEPTH
