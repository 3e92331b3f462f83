"""What only the executor Lambda handler does, called directly on moto S3 with STS-minted per-user credentials.

Every mode's shared behaviour is in test_executor_contract.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid

import pytest

from delta3_core.executor.aws_lambda.credentials import CredentialMinter
from delta3_core.executor.aws_lambda.protocol import MAX_RESULT_BYTES, fit_result
from executor_lambda.handler import handler
from tests.fixtures.executor import TEST_LIMITS, processes_with

LIMITS = {"wall_s": TEST_LIMITS["run_wall_s"], "cpu_s": 2, "memory_mb": TEST_LIMITS["run_memory_mb"],
          "processes": TEST_LIMITS["run_processes"], "file_mb": TEST_LIMITS["run_file_mb"],
          "output_kb": TEST_LIMITS["run_output_kb"], "disk_mb": TEST_LIMITS["quota_mb"], "open_files": 256}


@pytest.fixture
def run(s3, lambda_tmp):
    """run(user, kind, source) -> the handler's answer, for an event built like the app builds it."""
    client, bucket = s3
    minter = CredentialMinter(bucket)

    def call(user, run_kind, source, limits=None, **changes):
        event = {"version": 1, "user_id": user, "kind": run_kind, "source": source, "limits": limits or LIMITS,
                 "storage": {"bucket": bucket, "prefix": f"users/{user}/workspace/", "region": "us-east-1",
                             "credentials": minter.credentials(user)}}
        event.update(changes)
        answer = handler(json.loads(json.dumps(event)), None)
        json.dumps(answer)  # the answer must serialise as the Lambda response
        return answer

    return call


def stored(s3, user):
    client, bucket = s3
    prefix = f"users/{user}/workspace/"
    listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix):]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing}


def result_of(answer):
    assert answer["ok"], answer
    return answer["result"]


@pytest.mark.parametrize("event_change, expected", [
    ({"version": 99}, "version 1"),
    ({"storage": {}}, "no storage credentials"),
    ({"kind": "ruby"}, "Unknown run kind"),
])
def test_malformed_events_get_a_clear_error(run, event_change, expected):
    answer = run("alice", "python", "print(1)", **event_change)
    assert answer["ok"] is False and expected in answer["message"]


def test_an_event_for_another_users_prefix_is_refused(run, s3):
    client, bucket = s3
    minter = CredentialMinter(bucket)
    storage = {"bucket": bucket, "prefix": "users/bob/workspace/", "credentials": minter.credentials("alice")}
    answer = run("alice", "python", "print(1)", storage=storage)
    assert answer == {"ok": False, "error": "ValidationError",
                      "message": "The executor event's prefix does not belong to its user."}


def test_the_response_stays_under_lambdas_limit():
    huge = {"stdout": "a" * 4_000_000, "stderr": "b" * 4_000_000, "files_changed": [f"f{i}" for i in range(5000)],
            "skipped": [], "sync_failed": []}
    fitted = fit_result(huge)
    assert len(json.dumps(fitted).encode()) <= MAX_RESULT_BYTES
    assert fitted["stdout"].endswith("[output truncated to fit the response size limit]")
    assert fitted["files_changed"][-1] == "... and 4000 more"


def test_residue_anywhere_in_the_lambdas_tmp_is_wiped_after_the_run(run, lambda_tmp):
    # $TMPDIR residue is in the contract suite; the rest of the Lambda's /tmp is writable too
    assert result_of(run("mallory", "shell", f"echo bait > {lambda_tmp}/residue; echo started"))["stdout"] \
        == "started\n"
    assert sorted(os.listdir(lambda_tmp)) == ["delta3-cache"]


def test_no_process_of_the_run_is_alive_while_its_files_are_pushed(run, monkeypatch):
    # a leftover process could swap a file for a symlink to the handler's own files mid-push
    from delta3_core.executor.sync.s3 import S3Sync

    token = str(700000 + uuid.uuid4().int % 99999)
    alive_at_push = []
    original = S3Sync.push

    def push(self, *args, **kwargs):
        alive_at_push.append(processes_with(token))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(S3Sync, "push", push)
    result_of(run("mallory", "shell", f"setsid sleep {token} > /dev/null 2>&1 & sleep 0.2; echo started"))
    assert alive_at_push == [[]]


def test_a_process_that_keeps_changing_its_pid_does_not_survive_the_run(run):
    token = str(600000 + uuid.uuid4().int % 99999)
    hopper = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    while True:\n"
              "        if os.fork() == 0:\n            continue\n        os._exit(0)\n"
              f"time.sleep(0.3)\nprint('started')  # {token}")
    try:
        assert result_of(run("mallory", "python", hopper))["stdout"] == "started\n"
        time.sleep(0.2)
        survivors = processes_with(token)
    finally:
        for _ in range(500):  # never leave a hopper running on the test machine
            for pid in processes_with(token):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
    assert survivors == []


def test_the_response_fits_even_when_only_the_file_lists_are_huge():
    # deep folders make paths of many KB; a thousand skipped links alone can pass the 6 MB limit
    long_path = "d" * 250 + "/" + "e" * 16_000
    huge = {"stdout": "", "stderr": "", "files_changed": [long_path] * 5000, "skipped": [long_path] * 5000,
            "sync_failed": [long_path] * 5000}
    signal.alarm(20)  # a shrinking loop that cannot shrink would never return
    try:
        fitted = fit_result(huge)
    finally:
        signal.alarm(0)
    assert len(json.dumps(fitted).encode()) <= MAX_RESULT_BYTES
    assert fitted["sync_failed"] and fitted["skipped"][-1].startswith("... and")


def test_a_run_that_swaps_its_workspace_for_a_link_saves_nothing_and_loses_nothing(run, s3, tmp_path,
                                                                                    monkeypatch):
    # In Lambda the code runs as the handler's own uid, so it may rename its folder and point a link at
    # what only the handler process can read (its /proc/self/environ). Simulated: the code runs as us.
    monkeypatch.setattr("delta3_core.executor.aws_lambda.worker.host_uid", lambda sandboxed=True: None)
    run("alice", "python", "open('keep.txt', 'w').write('mine')")
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret.txt").write_text("handler-only")
    (host / "secret.txt").chmod(0o600)
    code = (f"import os\nhere = os.getcwd()\nos.chdir('/')\nos.rename(here, here + '.moved')\n"
            f"os.symlink({str(host)!r}, here)")
    answer = run("alice", "python", code)
    assert stored(s3, "alice") == {"keep.txt": b"mine"}
    assert answer["ok"] is False and "workspace" in answer["message"]
    assert result_of(run("alice", "shell", "cat keep.txt"))["stdout"] == "mine"


def test_a_run_that_plants_links_in_the_warm_cache_does_not_break_the_next_run(run, monkeypatch):
    # as in Lambda: the run has the same uid as the handler
    monkeypatch.setattr("delta3_core.executor.aws_lambda.worker.host_uid", lambda sandboxed=True: None)
    run("alice", "python", "import os\nos.system('rm -rf ../scratch')\nos.symlink('/', '../scratch')")
    assert result_of(run("alice", "python", "print('next run fine')"))["stdout"] == "next run fine\n"
