"""Workspace sync against moto S3: only changes move, writes are conditional, failures lose nothing."""

from __future__ import annotations

import os

import pytest
from botocore.exceptions import ClientError

from delta3_core.executor.sync import s3 as sync_module
from delta3_core.executor.sync.s3 import S3Sync, load_manifest, save_manifest

PREFIX = "users/alice/workspace/"


@pytest.fixture
def folders(tmp_path):
    made = {}

    def make(name):
        root, scratch = tmp_path / name / "ws", tmp_path / name / "scratch"
        root.mkdir(parents=True)
        scratch.mkdir()
        made[name] = (root, scratch)
        return root, scratch

    return make


def objects(client, bucket):
    listing = client.list_objects_v2(Bucket=bucket, Prefix=PREFIX).get("Contents", [])
    return {o["Key"][len(PREFIX):]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing}


def write(root, rel, data):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_push_then_restore_round_trips_a_workspace(s3, folders):
    client, bucket = s3
    src, _ = folders("a")
    write(src, "main.py", b"print(1)")
    write(src, "data/table.csv", b"a,b\n1,2\n")
    report = S3Sync(client, bucket, PREFIX).push(src, {})
    assert report.changed == ["data/table.csv", "main.py"] and not report.failed
    dst, scratch = folders("b")
    manifest = S3Sync(client, bucket, PREFIX).restore(dst, {}, scratch)
    assert (dst / "data/table.csv").read_bytes() == b"a,b\n1,2\n"
    assert set(manifest) == {"main.py", "data/table.csv"}
    assert os.listdir(scratch) == []


def test_a_warm_run_changing_one_file_makes_two_requests(s3, folders):
    client, bucket = s3
    root, scratch = folders("a")
    for i in range(50):
        write(root, f"f{i}.txt", f"file {i}".encode())
    manifest = S3Sync(client, bucket, PREFIX).push(root, {}).manifest
    warm = S3Sync(client, bucket, PREFIX)
    manifest = warm.restore(root, manifest, scratch)
    write(root, "f7.txt", b"changed")
    report = warm.push(root, manifest)
    assert report.changed == ["f7.txt"]
    assert warm.requests == 2  # one LIST to check freshness, one PUT
    assert objects(client, bucket)["f7.txt"] == b"changed"


def test_restore_follows_changes_made_in_s3_meanwhile(s3, folders):
    client, bucket = s3
    root, scratch = folders("a")
    write(root, "keep.txt", b"1")
    write(root, "gone.txt", b"2")
    manifest = S3Sync(client, bucket, PREFIX).push(root, {}).manifest
    client.put_object(Bucket=bucket, Key=PREFIX + "keep.txt", Body=b"edited on the web")
    client.delete_object(Bucket=bucket, Key=PREFIX + "gone.txt")
    S3Sync(client, bucket, PREFIX).restore(root, manifest, scratch)
    assert (root / "keep.txt").read_bytes() == b"edited on the web"
    assert not (root / "gone.txt").exists()


def test_deleted_files_are_deleted_in_s3(s3, folders):
    client, bucket = s3
    root, _ = folders("a")
    write(root, "old.txt", b"x")
    manifest = S3Sync(client, bucket, PREFIX).push(root, {}).manifest
    (root / "old.txt").unlink()
    report = S3Sync(client, bucket, PREFIX).push(root, manifest)
    assert report.changed == ["old.txt"] and objects(client, bucket) == {}


def test_large_files_go_up_in_parts_and_come_back_whole(s3, folders, monkeypatch):
    monkeypatch.setattr(sync_module, "PART_SIZE", 5 * 1024 * 1024)  # S3's minimum part size
    client, bucket = s3
    root, _ = folders("a")
    data = os.urandom(1024) * (12 * 1024)  # 12 MB: three parts
    write(root, "big.bin", data)
    sync = S3Sync(client, bucket, PREFIX)
    sync.push(root, {})
    assert sync.requests == 5  # create + 3 parts + complete
    dst, scratch = folders("b")
    S3Sync(client, bucket, PREFIX).restore(dst, {}, scratch)
    assert (dst / "big.bin").read_bytes() == data


def test_links_and_special_files_are_skipped_and_reported(s3, folders, tmp_path):
    client, bucket = s3
    root, _ = folders("a")
    (tmp_path / "secret").write_text("host")
    os.symlink(tmp_path / "secret", root / "link")
    os.symlink("/", root / "rootlink")
    os.mkfifo(root / "fifo")
    report = S3Sync(client, bucket, PREFIX).push(root, {})
    assert report.skipped == ["fifo (FIFO)", "link (symlink)", "rootlink (symlink)"]
    assert objects(client, bucket) == {}


def test_keys_that_would_escape_the_folder_are_never_written(s3, folders, tmp_path):
    client, bucket = s3
    client.put_object(Bucket=bucket, Key=PREFIX + "../escape.txt", Body=b"bad")
    client.put_object(Bucket=bucket, Key=PREFIX + "ok.txt", Body=b"good")
    root, scratch = folders("a")
    S3Sync(client, bucket, PREFIX).restore(root, {}, scratch)
    assert os.listdir(root) == ["ok.txt"]
    assert not (root.parent / "escape.txt").exists()


def test_two_runs_of_one_user_at_once_lose_neither_runs_files(s3, folders):
    client, bucket = s3
    base, _ = folders("base")
    write(base, "shared.txt", b"v0")
    write(base, "doomed.txt", b"v0")
    S3Sync(client, bucket, PREFIX).push(base, {})
    (a, a_scratch), (b, b_scratch) = folders("a"), folders("b")
    manifest_a = S3Sync(client, bucket, PREFIX).restore(a, {}, a_scratch)
    manifest_b = S3Sync(client, bucket, PREFIX).restore(b, {}, b_scratch)
    write(a, "shared.txt", b"from A")
    write(a, "a-only.txt", b"A")
    write(a, "doomed.txt", b"A kept this")
    write(b, "shared.txt", b"from B")
    write(b, "b-only.txt", b"B")
    (b / "doomed.txt").unlink()
    first = S3Sync(client, bucket, PREFIX).push(a, manifest_a, run_id="runa")
    second = S3Sync(client, bucket, PREFIX).push(b, manifest_b, run_id="runb")
    stored = objects(client, bucket)
    assert stored["shared.txt"] == b"from A" and stored["a-only.txt"] == b"A" and stored["b-only.txt"] == b"B"
    assert stored["doomed.txt"] == b"A kept this"  # B's delete lost the race: A's newer version stays
    assert len(second.conflicts) == 1 and stored[second.conflicts[0]] == b"from B"
    assert second.conflicts[0].startswith("shared (conflict ") and not first.conflicts


class FailingClient:
    """Wraps a boto3 client; the named operation fails on its n-th call, like a dropped connection."""

    def __init__(self, client, operation, fail_on):
        self._client, self._operation, self._fail_on, self._calls = client, operation, fail_on, 0

    def __getattr__(self, name):
        real = getattr(self._client, name)
        if name != self._operation:
            return real

        def call(**kwargs):
            self._calls += 1
            if self._calls == self._fail_on:
                raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, name)
            return real(**kwargs)

        return call


def test_a_sync_failing_half_way_keeps_old_versions_and_names_what_failed(s3, folders):
    client, bucket = s3
    root, _ = folders("a")
    for name in ("a.txt", "b.txt", "c.txt"):
        write(root, name, b"old")
    manifest = S3Sync(client, bucket, PREFIX).push(root, {}).manifest
    for name in ("a.txt", "b.txt", "c.txt"):
        write(root, name, b"new " + name.encode())
    flaky = S3Sync(FailingClient(client, "put_object", fail_on=2), bucket, PREFIX, workers=1)
    report = flaky.push(root, manifest)
    assert len(report.failed) == 1 and len(report.changed) == 2
    stored = objects(client, bucket)
    assert stored[report.failed[0]] == b"old"
    assert sorted(stored.values()) == sorted([b"old", *(b"new " + n.encode() for n in report.changed)])
    retry = S3Sync(client, bucket, PREFIX).push(root, report.manifest)
    assert retry.changed == report.failed and objects(client, bucket)[report.failed[0]] != b"old"


def test_a_multipart_upload_failing_half_way_leaves_the_old_object(s3, folders, monkeypatch):
    monkeypatch.setattr(sync_module, "PART_SIZE", 5 * 1024 * 1024)
    client, bucket = s3
    client.put_object(Bucket=bucket, Key=PREFIX + "big.bin", Body=b"old version")
    root, scratch = folders("a")
    manifest = S3Sync(client, bucket, PREFIX).restore(root, {}, scratch)
    write(root, "big.bin", b"n" * (11 * 1024 * 1024))
    report = S3Sync(FailingClient(client, "upload_part", fail_on=2), bucket, PREFIX).push(root, manifest)
    assert report.failed == ["big.bin"]
    assert objects(client, bucket)["big.bin"] == b"old version"
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_corrupt_manifest_means_a_cold_start(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text("{not json")
    assert load_manifest(path) == {}
    save_manifest(path, {})
    assert load_manifest(path) == {}
