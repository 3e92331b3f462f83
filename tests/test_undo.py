"""Undo end to end: chat turns with real tools and the real sandbox record checkpoints; undo puts files back.

Runs on the local backend and on the AWS backend in moto, in process and through its HTTP server (S3 object
versions); code runs through the local sandbox either way (on AWS it restores from S3 and syncs back).
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from delta3_core import history
from delta3_core.agent import chat, collect
from delta3_core.agent.context import system_instruction
from delta3_core.checkpoints import (
    KEEP_TURNS,
    Recorder,
    file_versions,
    restore_version,
    sweep,
    turn_diffs,
    undo_last,
    undo_turn,
    undoable,
)
from delta3_core.errors import ConflictError
from delta3_core.services import Services
from delta3_core.storage import open_backend
from delta3_core.workspace import Workspace
from tests.agent_helpers import add_user
from tests.fixtures.gemini import gemini_call, gemini_calls, gemini_text
from tests.fixtures.storage import make_aws_resources, set_fake_aws_env

BINARY = bytes(range(256)) * 3
RUN = ("import os\n"
       "open('data.bin', 'wb').write(bytes(reversed(range(256))))\n"
       "open('made_by_run.txt', 'w').write('new')\n"
       "os.remove('gone_by_run.txt')\n")


def _aws_services(sandbox_settings) -> Services:
    res = make_aws_resources()
    settings = replace(sandbox_settings, backend="aws", bucket=res.bucket, table=res.table, kms_key_id=res.kms_key_id)
    return Services(settings, open_backend(settings))


@pytest.fixture(params=["local", "aws-moto", "aws-server"])
def services(request, sandbox_settings, monkeypatch):
    """Services on the local backend, or on AWS in moto (in process, or its HTTP server); code runs in the
    local sandbox."""
    if request.param == "local":
        built = Services(sandbox_settings, open_backend(sandbox_settings))
        yield built
        built.backend.records.close()
    elif request.param == "aws-server":
        set_fake_aws_env(monkeypatch, endpoint_url=request.getfixturevalue("moto_server"))
        yield _aws_services(sandbox_settings)
    else:
        from moto import mock_aws

        set_fake_aws_env(monkeypatch)
        with mock_aws():
            yield _aws_services(sandbox_settings)


@pytest.fixture
def alice(services):
    return add_user(services, "alice", "key-alice")


def workspace(services, user_id) -> Workspace:
    return Workspace(services.backend, user_id, services.settings.quota_bytes)


def snapshot(ws: Workspace) -> dict[str, bytes]:
    return {f.path: ws.read_bytes(f.path) for f in ws.list() if not f.is_dir}


@pytest.fixture
def turn(fake_gemini):
    """turn(services, user, message, *calls): a chat turn where the model makes `calls`, one round each."""

    def run(services, user_id, message, *calls, channel="web"):
        fake_gemini.enqueue(*[gemini_calls(call) for call in calls], gemini_text("Done."))
        reply = collect(chat(services, user_id, message, channel=channel))
        assert reply.error is None, reply.error
        return reply

    return run


@pytest.mark.sandbox
def test_undo_reverts_writes_creations_deletions_and_a_code_run(services, alice, turn, require_sandbox):
    ws = workspace(services, alice)
    ws.write_text("app.py", "print('v1')\n")
    ws.write_bytes("data.bin", BINARY)
    ws.write_text("old.txt", "keep me")
    ws.write_text("gone_by_run.txt", "run deletes me")
    ws.write_text("docs/a.md", "a")
    ws.write_text("docs/b.md", "b")
    before = snapshot(ws)

    turn(services, alice, "change everything",
         gemini_call("write_file", {"path": "app.py", "content": "print('v2')\n"}),
         gemini_call("write_file", {"path": "new.py", "content": "x = 1\n"}),
         gemini_call("delete_file", {"path": "old.txt"}),
         gemini_call("delete_file", {"path": "docs"}),
         gemini_call("execute_python", {"code": RUN}),
         gemini_call("write_file", {"path": "app.py", "content": "print('v3')\n"}))
    after = snapshot(ws)
    assert after["app.py"] == b"print('v3')\n" and after["data.bin"] != BINARY and "old.txt" not in after
    reply = history.recent(services.backend, alice)[-1]
    files = {f["path"]: f["kind"] for f in reply.meta["checkpoint"]["files"]}
    assert files == {"app.py": "modified", "new.py": "created", "old.txt": "deleted", "docs/a.md": "deleted",
                     "docs/b.md": "deleted", "data.bin": "modified", "made_by_run.txt": "created",
                     "gone_by_run.txt": "deleted"}

    result = undo_last(services, alice, "web")
    assert sorted(result.restored) == sorted(files) and result.kept == []
    assert result.turn == reply.meta["checkpoint"]["turn"]
    assert snapshot(ws) == before  # byte for byte, the binary the run rewrote included
    with pytest.raises(ConflictError, match="Nothing left to undo"):
        undo_last(services, alice, "web")
    notes = history.recent(services.backend, alice)[-2:]
    assert [m.role for m in notes] == ["user", "assistant"] and "restored" in notes[1].content
    assert notes[1].meta["undo"]["turn"] == result.turn


@pytest.mark.sandbox
def test_three_turns_are_undone_one_at_a_time_then_nothing_is_left(services, alice, turn, require_sandbox):
    ws = workspace(services, alice)
    states = [snapshot(ws)]
    turn(services, alice, "one", gemini_call("write_file", {"path": "a.txt", "content": "1"}))
    states.append(snapshot(ws))
    turn(services, alice, "two", gemini_call("execute_shell", {"command": "echo 2 > a.txt; echo b > b.txt"}))
    states.append(snapshot(ws))
    turn(services, alice, "chat only")  # no file changed: no checkpoint, undo passes over it
    turn(services, alice, "three", gemini_call("delete_file", {"path": "a.txt"}), channel="sms")
    assert snapshot(ws) == {"b.txt": b"b\n"}
    labels = []
    for expected in reversed(states):
        result = undo_last(services, alice, "sms")
        labels.append(result.label)
        assert snapshot(ws) == expected
    assert labels == ["three", "two", "one"]
    with pytest.raises(ConflictError, match="Nothing left"):
        undo_last(services, alice, "web")


@pytest.mark.sandbox
def test_a_path_changed_since_is_kept_and_named(services, alice, turn, require_sandbox):
    ws = workspace(services, alice)
    ws.write_text("a.py", "original a")
    turn(services, alice, "edit", gemini_call("write_file", {"path": "a.py", "content": "model a"}),
         gemini_call("write_file", {"path": "b.py", "content": "model b"}))
    ws.write_text("a.py", "edited on the Files page")
    result = undo_last(services, alice, "web")
    assert result.restored == ["b.py"] and result.kept == ["a.py"]
    assert "a.py" in result.message() and "changed since" in result.message()
    assert ws.read_bytes("a.py") == b"edited on the Files page" and not ws.exists("b.py")


@pytest.mark.sandbox
def test_undo_of_an_older_turn_keeps_what_a_newer_turn_changed(services, alice, turn, require_sandbox):
    ws = workspace(services, alice)
    turn(services, alice, "first", gemini_call("write_file", {"path": "a.py", "content": "A1"}),
         gemini_call("write_file", {"path": "c.py", "content": "C1"}))
    first = undoable(services, alice)[0].turn_id
    turn(services, alice, "second", gemini_call("write_file", {"path": "a.py", "content": "A2"}))
    result = undo_turn(services, alice, first, "web")
    assert result.restored == ["c.py"] and result.kept == ["a.py"]
    assert snapshot(ws) == {"a.py": b"A2"}
    with pytest.raises(ConflictError, match="already undone"):
        undo_turn(services, alice, first, "web")


def test_two_channels_undoing_at_once_take_different_turns(services, alice, monkeypatch):
    """Web reads the newest turn, SMS undoes that same turn meanwhile; web then takes the one before.

    The interleaving is forced with events, so the test is deterministic: the claim of a turn is a
    conditional write in the store, which only one caller can win (see the storage contract tests).
    """
    import delta3_core.checkpoints.undo as undo_module

    ws = workspace(services, alice)
    for name in ("one", "two"):
        recorder = Recorder(services, alice, "web", name)
        with recorder.changing([f"{name}.txt"]):
            ws.write_text(f"{name}.txt", name)
        recorder.commit()
    web_has_read, sms_done = threading.Event(), threading.Event()
    real_undoable = undo_module.undoable

    def undoable_paused(services_, user_id):
        found = real_undoable(services_, user_id)
        if threading.current_thread().name == "web" and not web_has_read.is_set():
            web_has_read.set()
            assert sms_done.wait(30)  # SMS undoes the same newest turn while web holds its stale view
        return found

    monkeypatch.setattr(undo_module, "undoable", undoable_paused)
    results, failures = {}, []

    def undo(channel):
        if channel == "sms":
            assert web_has_read.wait(30)
        try:
            results[channel] = undo_last(services, alice, channel)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            if channel == "sms":
                sms_done.set()

    threads = [threading.Thread(target=undo, args=(c,), name=c) for c in ("web", "sms")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert (results["sms"].label, results["web"].label) == ("two", "one")  # each turn undone exactly once
    assert snapshot(ws) == {}
    with pytest.raises(ConflictError):
        undo_last(services, alice, "web")


def test_turn_diff_and_file_history_with_restore(services, alice):
    ws = workspace(services, alice)
    ws.write_text("notes.md", "line 1\nline 2\n")
    for text in ("line 1\nline two\n", "line 1\nline two\nline 3\n"):
        recorder = Recorder(services, alice, "web", f"make it {text!r}")
        with recorder.changing(["notes.md"]):
            ws.write_text("notes.md", text)
        record = recorder.commit()
    (change,) = turn_diffs(services, alice, record)
    assert change.kind == "modified" and "+line 3" in change.diff and not any(
        line.startswith("-") for line in change.diff)
    versions = file_versions(services, alice, "notes.md")
    contents = [ws.read_bytes("notes.md")]
    assert [v.size for v in versions] == [len("line 1\nline two\n"), len("line 1\nline 2\n")]
    assert versions[0].turn is not None
    restore_version(services, alice, "notes.md", versions[-1])
    assert ws.read_bytes("notes.md") == b"line 1\nline 2\n" != contents[0]


def test_retention_keeps_the_newest_turns_only(services, alice):
    ws = workspace(services, alice)
    for i in range(KEEP_TURNS + 5):
        recorder = Recorder(services, alice, "web", f"turn {i}")
        with recorder.changing(["f.txt"]):
            ws.write_text("f.txt", f"content {i}")
        recorder.commit()
    sweep(services, alice)
    kept = undoable(services, alice)
    assert len(kept) == KEEP_TURNS and kept[-1].data["label"] == "turn 5"
    assert len(services.backend.records.recent_checkpoints(alice, 1000)) == KEEP_TURNS


def test_system_instruction_tells_the_model_the_user_can_undo():
    assert "undo" in system_instruction("web", "The workspace is empty.").lower()


@pytest.mark.sandbox
def test_a_run_after_a_files_page_edit_is_undone_to_that_edit(services, alice, turn, require_sandbox):
    ws = workspace(services, alice)
    ws.write_text("notes.txt", "first")
    turn(services, alice, "run once", gemini_call("execute_shell", {"command": "echo run1 > other.txt"}))
    ws.write_text("notes.txt", "edited on the Files page")  # between runs: noted, read again before the next
    turn(services, alice, "overwrite", gemini_call("execute_shell", {"command": "echo run2 > notes.txt"}))
    assert ws.read_bytes("notes.txt") == b"run2\n"
    assert undo_last(services, alice, "web").restored == ["notes.txt"]
    assert ws.read_bytes("notes.txt") == b"edited on the Files page"


def test_local_store_is_capped_dropping_the_oldest_turns(tmp_path):
    from delta3_core.checkpoints.recorder import UNDO_STORE_FACTOR
    from tests.agent_helpers import make_services

    services = make_services(tmp_path, quota_mb=1)  # the store may hold 2 MB of old and current content
    alice = add_user(services, "alice")
    ws = workspace(services, alice)
    for i in range(4):
        recorder = Recorder(services, alice, "web", f"turn {i}")
        with recorder.changing(["big.bin"]):
            ws.write_bytes("big.bin", bytes([i]) * 600_000)
        recorder.commit()
    sweep(services, alice)
    kept = [r.data["label"] for r in undoable(services, alice)]
    blobs = list((tmp_path / "checkpoints" / alice / "blobs").glob("*/*"))
    assert kept == ["turn 3", "turn 2"]  # turns 0 and 1 would need two more 600 KB copies
    assert sum(b.stat().st_size for b in blobs) <= UNDO_STORE_FACTOR * services.settings.quota_bytes
    assert undo_last(services, alice).restored == ["big.bin"] and ws.read_bytes("big.bin") == bytes([2]) * 600_000
    services.backend.records.close()


def test_forget_deletes_every_checkpoint_and_kept_content(services, alice):
    from delta3_core.checkpoints import forget

    ws = workspace(services, alice)
    recorder = Recorder(services, alice, "web", "one")
    with recorder.changing(["a.txt"]):
        ws.write_text("a.txt", "a")
    recorder.commit()
    forget(services, alice)
    assert undoable(services, alice) == []
    if services.settings.backend == "local":
        assert not (services.settings.data_dir / "checkpoints" / alice).exists()
    with pytest.raises(ConflictError):
        undo_last(services, alice)
