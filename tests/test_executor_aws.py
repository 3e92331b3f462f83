"""The local sandbox on the AWS backend: restore from S3 into a per-user folder, run, sync back."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from delta3_core.executor import make_executor
from delta3_core.storage import open_backend
from tests.fixtures.storage import make_aws_resources

pytestmark = pytest.mark.sandbox


@pytest.fixture
def aws_run(sandbox_settings, s3, require_sandbox):
    resources = make_aws_resources()
    settings = replace(sandbox_settings, backend="aws", bucket=resources.bucket, table=resources.table,
                       kms_key_id=resources.kms_key_id)
    backend = open_backend(settings)
    return make_executor(settings, backend), backend


def test_a_run_reads_and_writes_the_s3_workspace(aws_run):
    executor, backend = aws_run
    backend.files.write_bytes("alice", "in.txt", b"from the web")
    result = executor.run("alice", "shell", "cat in.txt; echo done > out.txt")
    assert result.stdout == "from the web" and result.files_changed == ["out.txt"]
    assert backend.files.read_bytes("alice", "out.txt") == b"done\n"


def test_edits_made_between_runs_are_seen_by_the_next_warm_run(aws_run):
    executor, backend = aws_run
    executor.run("alice", "python", "open('n.txt', 'w').write('1')")
    backend.files.write_bytes("alice", "n.txt", b"edited")
    backend.files.delete("alice", "n.txt")
    backend.files.write_bytes("alice", "m.txt", b"new")
    assert executor.run("alice", "shell", "ls").stdout == "m.txt\n"


def test_users_never_see_each_others_files(aws_run):
    executor, backend = aws_run
    backend.files.write_bytes("bob", "bob.txt", b"private")
    assert executor.run("alice", "shell", "ls -A; ls -A .. 2>&1 | grep -c bob || true").stdout == "0\n"


def test_two_runs_of_one_user_at_once_both_keep_their_files(aws_run):
    executor, backend = aws_run
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(executor.run(
        "alice", "python", f"import time; open('r{i}.txt', 'w').write('{i}'); time.sleep(0.3)"))) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.ok for r in results)
    assert sorted(f.path for f in backend.files.list_files("alice")) == ["r0.txt", "r1.txt"]


def test_links_are_reported_and_not_saved(aws_run):
    executor, backend = aws_run
    result = executor.run("alice", "shell", "ln -s / rootlink; echo x > real.txt")
    assert any(s.startswith("rootlink (symlink)") for s in result.skipped)
    assert [f.path for f in backend.files.list_files("alice")] == ["real.txt"]
