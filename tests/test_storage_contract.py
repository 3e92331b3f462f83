"""One contract suite, run unchanged against every backend: local, aws-moto and aws-server."""

from __future__ import annotations

import threading
import time

import pytest

from delta3_core.errors import ConflictError, KeyDecryptError, NotFoundError
from delta3_core.storage.base import HISTORY_KEEP, Message, SessionRecord, UserRecord


def make_user(backend, user_id="u1", email="ada@example.com"):
    user = UserRecord(user_id=user_id, email=email, password_hash="$2b$hash", created_at=time.time())
    backend.records.create_user(user)
    return user


# -- users --------------------------------------------------------------------------------
def test_created_user_is_found_by_id_and_email(backend):
    make_user(backend)
    assert backend.records.get_user("u1").email == "ada@example.com"
    assert backend.records.find_user_by_email("ada@example.com").user_id == "u1"
    assert backend.records.get_user("nobody") is None
    assert backend.records.find_user_by_email("nobody@example.com") is None


def test_duplicate_email_is_refused_and_first_account_kept(backend):
    make_user(backend)
    with pytest.raises(ConflictError, match="already exists"):
        make_user(backend, user_id="u2")
    assert backend.records.get_user("u2") is None
    assert backend.records.find_user_by_email("ada@example.com").user_id == "u1"


def test_update_user_sets_and_clears_fields(backend):
    make_user(backend)
    updated = backend.records.update_user("u1", model="gemini-x", prefs={"theme": "dark"}, gemini_key_ct="ct")
    assert (updated.model, updated.prefs, updated.gemini_key_ct) == ("gemini-x", {"theme": "dark"}, "ct")
    backend.records.update_user("u1", gemini_key_ct=None)
    stored = backend.records.get_user("u1")
    assert (stored.model, stored.prefs, stored.gemini_key_ct) == ("gemini-x", {"theme": "dark"}, None)
    with pytest.raises(NotFoundError):
        backend.records.update_user("ghost", model="m")


def test_email_change_moves_the_claim(backend):
    make_user(backend)
    make_user(backend, user_id="u2", email="bob@example.com")
    with pytest.raises(ConflictError):
        backend.records.update_user("u1", email="bob@example.com")
    backend.records.update_user("u1", email="ada2@example.com")
    assert backend.records.find_user_by_email("ada2@example.com").user_id == "u1"
    assert backend.records.find_user_by_email("ada@example.com") is None
    make_user(backend, user_id="u3", email="ada@example.com")  # the old address is free again


# -- sessions -----------------------------------------------------------------------------
def test_sessions_round_trip_expire_and_delete(backend):
    now = time.time()
    backend.records.put_session(SessionRecord("h1", "u1", now, now + 3600))
    backend.records.put_session(SessionRecord("h2", "u1", now - 10, now - 1))
    assert backend.records.get_session("h1").user_id == "u1"
    assert backend.records.get_session("h2") is None  # expired counts as absent
    backend.records.delete_session("h1")
    assert backend.records.get_session("h1") is None


# -- phones -------------------------------------------------------------------------------
def test_one_phone_one_account(backend):
    make_user(backend)
    make_user(backend, user_id="u2", email="bob@example.com")
    backend.records.link_phone("+15550001111", "u1")
    backend.records.link_phone("+15550001111", "u1")  # linking again is fine
    with pytest.raises(ConflictError, match="another account"):
        backend.records.link_phone("+15550001111", "u2")
    assert backend.records.get_phone_user("+15550001111") == "u1"
    assert backend.records.get_user("u1").phone == "+15550001111"
    assert backend.records.get_user("u2").phone is None


def test_new_phone_releases_old_and_unlink_frees_it(backend):
    make_user(backend)
    backend.records.link_phone("+15550001111", "u1")
    backend.records.link_phone("+15550002222", "u1")
    assert backend.records.get_phone_user("+15550001111") is None
    backend.records.unlink_phone("+15550002222")
    assert backend.records.get_phone_user("+15550002222") is None
    assert backend.records.get_user("u1").phone is None
    make_user(backend, user_id="u2", email="bob@example.com")
    backend.records.link_phone("+15550002222", "u2")
    assert backend.records.get_phone_user("+15550002222") == "u2"


# -- history ------------------------------------------------------------------------------
def test_history_keeps_order_and_increasing_seq(backend):
    stored = backend.records.append_messages("u1", [Message("user", "hi", "sms"), Message("assistant", "hello")])
    backend.records.append_messages("u1", [Message("tool", "ran", meta={"tool": "execute_python"})])
    got = backend.records.recent_messages("u1", 20)
    assert [(m.role, m.content) for m in got] == [("user", "hi"), ("assistant", "hello"), ("tool", "ran")]
    assert [m.seq for m in got] == [1, 2, 3] and [m.seq for m in stored] == [1, 2]
    assert got[0].channel == "sms" and got[2].meta == {"tool": "execute_python"} and got[0].created_at > 0
    assert backend.records.recent_messages("u2", 20) == []


def test_history_keeps_empty_and_unicode_content(backend):
    backend.records.append_messages("u1", [Message("assistant", ""), Message("user", "h\u00e9llo \u2603 \U0001f600")])
    assert [m.content for m in backend.records.recent_messages("u1", 5)] == ["", "h\u00e9llo \u2603 \U0001f600"]


def test_huge_messages_are_kept_cut_to_size(backend):
    huge = "\u00e9" * 300_000  # 600 KB of UTF-8: more than one DynamoDB item can hold
    stored = backend.records.append_messages("u1", [
        Message("user", huge), Message("tool", "ran", meta={"tool": "write_file", "args": "x" * 100_000}),
        Message("assistant", "done")])
    got = backend.records.recent_messages("u1", 5)
    assert [m.content for m in got][1:] == ["ran", "done"]
    assert got[0].content.startswith("\u00e9" * 1000) and got[0].content.endswith("too long to keep in the history]")
    assert len(got[0].content.encode()) <= 64 * 1024 and got[0].content == stored[0].content
    assert got[1].meta == {"tool": "write_file", "truncated": True}


def test_history_trims_to_keep_and_reads_newest(backend):
    for start in range(0, 130, 10):
        backend.records.append_messages("u1", [Message("user", f"m{i}") for i in range(start, start + 10)])
    everything = backend.records.recent_messages("u1", 1000)
    assert len(everything) == HISTORY_KEEP
    assert everything[0].content == "m30" and everything[-1].content == "m129"
    newest = backend.records.recent_messages("u1", 20)
    assert [m.content for m in newest] == [f"m{i}" for i in range(110, 130)]


def test_clear_history_then_seq_keeps_rising(backend):
    backend.records.append_messages("u1", [Message("user", "a"), Message("user", "b")])
    backend.records.clear_messages("u1")
    assert backend.records.recent_messages("u1", 20) == []
    again = backend.records.append_messages("u1", [Message("user", "c")])
    assert again[0].seq == 3
    assert [m.content for m in backend.records.recent_messages("u1", 20)] == ["c"]


def test_two_channels_appending_at_once_lose_nothing(concurrent_backend):
    backend = concurrent_backend

    def channel(name):
        for i in range(15):
            backend.records.append_messages("u1", [Message("user", f"{name}-{i}", name),
                                                   Message("assistant", f"{name}-{i}-reply", name)])

    threads = [threading.Thread(target=channel, args=(name,)) for name in ("web", "sms")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    got = backend.records.recent_messages("u1", 100)
    assert len(got) == 60
    seqs = [m.seq for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 60
    for name in ("web", "sms"):
        mine = [m.content for m in got if m.channel == name]
        assert mine == [text for i in range(15) for text in (f"{name}-{i}", f"{name}-{i}-reply")]


# -- counters, claims, values -------------------------------------------------------------
def test_counters_add_per_key(backend):
    assert backend.records.incr_counter("login:ada", 3600) == 1
    assert backend.records.incr_counter("login:ada", 3600, 4) == 5
    assert backend.records.incr_counter("login:bob", 3600) == 1
    assert backend.records.incr_counter("login:ada", 3600, 0) == 5  # adding 0 reads the count
    assert backend.records.incr_counter("login:new", 3600, 0) == 0


def test_claim_is_won_once_even_when_racing(concurrent_backend):
    backend = concurrent_backend

    wins = []
    barrier = threading.Barrier(4)

    def racer():
        barrier.wait()
        wins.append(backend.records.claim("sms:SM123", 600))

    threads = [threading.Thread(target=racer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False, False, False, True]
    assert backend.records.claim("sms:SM123", 600) is False
    assert backend.records.claim("sms:SM456", 600) is True


def test_expired_claim_can_be_claimed_again(backend):
    assert backend.records.claim("k", 1) is True
    time.sleep(1.1)
    assert backend.records.claim("k", 60) is True


def test_values_with_ttl(backend):
    backend.records.put_value("state:1", "hello", 60)
    backend.records.put_value("state:2", "brief", 1)
    assert backend.records.get_value("state:1") == "hello"
    backend.records.put_value("state:1", "replaced", 60)
    assert backend.records.get_value("state:1") == "replaced"
    time.sleep(1.1)
    assert backend.records.get_value("state:2") is None
    backend.records.delete_value("state:1")
    assert backend.records.get_value("state:1") is None


# -- files --------------------------------------------------------------------------------
def test_write_read_list_and_usage(backend):
    files = backend.files
    info = files.write_bytes("u1", "src/app.py", b"print('hi')\n")
    files.write_bytes("u1", "README.md", b"# hi")
    assert info.size == 12
    assert files.read_bytes("u1", "src/app.py") == b"print('hi')\n"
    with files.open_read("u1", "README.md") as handle:
        assert handle.read() == b"# hi"
    listing = [(f.path, f.size, f.is_dir) for f in files.list_files("u1")]
    assert listing == [("README.md", 4, False), ("src", 0, True), ("src/app.py", 12, False)]
    assert files.usage_bytes("u1") == 16
    assert files.list_files("u2") == [] and files.usage_bytes("u2") == 0


def test_overwrite_replaces_whole_content(backend):
    backend.files.write_bytes("u1", "a.txt", b"x" * 1000)
    backend.files.write_bytes("u1", "a.txt", b"short")
    assert backend.files.read_bytes("u1", "a.txt") == b"short"
    assert [f.path for f in backend.files.list_files("u1")] == ["a.txt"]  # no temp files left behind


def test_empty_file_and_unicode_name(backend):
    backend.files.write_bytes("u1", "caf\u00e9/empty.txt", b"")
    assert backend.files.read_bytes("u1", "caf\u00e9/empty.txt") == b""
    assert ("caf\u00e9/empty.txt", 0) in [(f.path, f.size) for f in backend.files.list_files("u1")]


def test_missing_file_is_not_found(backend):
    with pytest.raises(NotFoundError, match="does not exist"):
        backend.files.read_bytes("u1", "nope.txt")
    with pytest.raises(NotFoundError):
        backend.files.delete("u1", "nope.txt")
    with pytest.raises(NotFoundError):
        backend.files.rename("u1", "nope.txt", "other.txt")


def test_make_dir_rename_and_delete_tree(backend):
    files = backend.files
    files.make_dir("u1", "empty/inner")
    files.make_dir("u1", "empty/inner")  # again: fine
    files.write_bytes("u1", "pkg/a.py", b"a")
    files.write_bytes("u1", "pkg/sub/b.py", b"b")
    files.rename("u1", "pkg", "lib/pkg")
    assert files.read_bytes("u1", "lib/pkg/sub/b.py") == b"b"
    paths = {f.path: f.is_dir for f in files.list_files("u1")}
    assert paths == {"empty": True, "empty/inner": True, "lib": True, "lib/pkg": True, "lib/pkg/a.py": False,
                     "lib/pkg/sub": True, "lib/pkg/sub/b.py": False}
    files.rename("u1", "lib/pkg/a.py", "a.py")
    with pytest.raises(ConflictError):
        files.rename("u1", "a.py", "lib/pkg/sub/b.py")
    files.delete("u1", "lib")
    files.delete("u1", "empty")
    assert [f.path for f in files.list_files("u1")] == ["a.py"]


def test_file_in_the_way_of_a_folder_is_a_conflict(backend):
    backend.files.write_bytes("u1", "notes.txt", b"x")
    with pytest.raises(ConflictError):
        backend.files.write_bytes("u1", "notes.txt/inner.txt", b"y")
    with pytest.raises(ConflictError):
        backend.files.make_dir("u1", "notes.txt")
    assert backend.files.read_bytes("u1", "notes.txt") == b"x"


def test_users_do_not_share_files(backend):
    backend.files.write_bytes("u1", "secret.txt", b"mine")
    with pytest.raises(NotFoundError):
        backend.files.read_bytes("u2", "secret.txt")


# -- key cipher ---------------------------------------------------------------------------
def test_cipher_round_trip_hides_the_key(backend):
    ciphertext = backend.cipher.encrypt("u1", "AIzaSyExample-key")
    assert "AIzaSyExample" not in ciphertext
    assert backend.cipher.decrypt("u1", ciphertext) == "AIzaSyExample-key"


def test_ciphertext_of_another_user_does_not_decrypt(backend):
    ciphertext = backend.cipher.encrypt("u1", "AIzaSyExample-key")
    with pytest.raises(KeyDecryptError):
        backend.cipher.decrypt("u2", ciphertext)


@pytest.mark.parametrize("damage", [lambda c: c[:-4] + ("AAAA" if not c.endswith("AAAA") else "BBBB"),
                                    lambda c: c[: len(c) // 2], lambda c: "garbage", lambda c: ""])
def test_corrupted_ciphertext_fails_clearly(backend, damage):
    ciphertext = backend.cipher.encrypt("u1", "AIzaSyExample-key")
    with pytest.raises(KeyDecryptError, match="enter it again"):
        backend.cipher.decrypt("u1", damage(ciphertext))


def test_big_appends_are_split_within_dynamodb_request_limits():
    from delta3_core.storage.dynamo_items import MAX_TRANSACT, MAX_TRANSACT_BYTES, transaction_chunks

    big = [{"Put": {"Item": {"content": {"S": "x" * 60_000}}}} for _ in range(150)]
    chunks = transaction_chunks(big)
    assert sum(len(c) for c in chunks) == 150 and all(len(c) <= MAX_TRANSACT for c in chunks)
    assert all(sum(len(str(a)) for a in c) <= MAX_TRANSACT_BYTES for c in chunks)
    assert len(transaction_chunks(big[:4])) == 1  # a normal turn stays one all-or-nothing transaction


# -- API access tokens ----------------------------------------------------------------------
def test_access_tokens_round_trip_list_and_revoke(backend):
    from delta3_core.storage.base import AccessTokenRecord

    now = time.time()
    first = AccessTokenRecord("t1", "h" * 64, "u1", "laptop", now, None)
    second = AccessTokenRecord("t2", "g" * 64, "u1", "ci", now + 1, now + 3600)
    other = AccessTokenRecord("t3", "f" * 64, "u2", "theirs", now, None)
    for token in (first, second, other):
        backend.records.put_access_token(token)
    assert backend.records.get_access_token("h" * 64) == first
    assert backend.records.get_access_token("g" * 64) == second
    assert backend.records.get_access_token("x" * 64) is None
    assert [t.token_id for t in backend.records.list_access_tokens("u1")] == ["t1", "t2"]
    assert backend.records.delete_access_token("u1", "t3") is False  # another user's token is not theirs to revoke
    assert backend.records.get_access_token("f" * 64) == other
    assert backend.records.delete_access_token("u1", "t1") is True
    assert backend.records.get_access_token("h" * 64) is None
    assert [t.token_id for t in backend.records.list_access_tokens("u1")] == ["t2"]
    assert backend.records.delete_access_token("u1", "t1") is False


def test_expired_access_token_is_neither_found_nor_listed(backend):
    from delta3_core.storage.base import AccessTokenRecord

    backend.records.put_access_token(AccessTokenRecord("t1", "h" * 64, "u1", "brief", time.time(), time.time() + 1))
    assert backend.records.get_access_token("h" * 64) is not None
    time.sleep(1.1)
    assert backend.records.get_access_token("h" * 64) is None
    assert backend.records.list_access_tokens("u1") == []

# -- account deletion and daily usage (accounts) -------------------------------------------
def test_delete_user_frees_email_and_phone_and_queues_one_purge(backend):
    make_user(backend)
    backend.records.link_phone("+14155550100", "u1")
    deleted = backend.records.delete_user("u1")
    assert (deleted.user_id, deleted.phone) == ("u1", "+14155550100")
    assert backend.records.get_user("u1") is None
    assert backend.records.find_user_by_email("ada@example.com") is None
    assert backend.records.get_phone_user("+14155550100") is None
    [job] = backend.records.pending_purges()
    assert (job.user_id, job.phone) == ("u1", "+14155550100") and job.queued_at > 0
    assert backend.records.delete_user("u1") is None  # a second call finds nothing to delete
    make_user(backend, user_id="u2")  # the email registers again, fresh
    backend.records.finish_purge("u1")
    assert backend.records.pending_purges() == []


def test_purge_user_records_removes_sessions_history_and_usage_of_that_user_only(backend):
    for user_id, email in (("u1", "ada@example.com"), ("u2", "bob@example.com")):
        make_user(backend, user_id, email)
        backend.records.put_session(SessionRecord(f"hash-{user_id}", user_id, time.time(), time.time() + 60))
        backend.records.append_messages(user_id, [Message("user", "hi"), Message("assistant", "hello")])
        backend.records.add_usage(user_id, "2026-11-30", "gemini-x", {"tokens_in": 5, "requests": 1})
    backend.records.delete_user("u1")
    backend.records.purge_user_records("u1")
    backend.records.purge_user_records("u1")  # idempotent
    assert backend.records.get_session("hash-u1") is None
    assert backend.records.recent_messages("u1", 10) == []
    assert backend.records.usage_rows("u1", "2026-01-01") == []
    assert backend.records.get_session("hash-u2").user_id == "u2"
    assert len(backend.records.recent_messages("u2", 10)) == 2
    assert len(backend.records.usage_rows("u2", "2026-01-01")) == 1


def test_usage_rows_add_up_per_day_and_model(backend):
    backend.records.add_usage("u1", "2026-11-29", "gemini-x", {"tokens_in": 5, "tokens_out": 1, "requests": 1})
    backend.records.add_usage("u1", "2026-11-30", "gemini-x", {"tokens_in": 7, "tokens_thinking": 3, "requests": 1})
    backend.records.add_usage("u1", "2026-11-30", "gemini-x", {"tokens_in": 1, "requests": 1})
    backend.records.add_usage("u1", "2026-11-30", "gemini-y", {"tokens_out": 2, "requests": 1})
    rows = backend.records.usage_rows("u1", "2026-11-30")
    assert [(r.day, r.model, r.tokens_in, r.tokens_out, r.tokens_thinking, r.requests) for r in rows] == [
        ("2026-11-30", "gemini-x", 8, 0, 3, 2), ("2026-11-30", "gemini-y", 0, 2, 0, 1)]
    assert len(backend.records.usage_rows("u1", "2026-11-01")) == 3
    assert backend.records.usage_rows("u2", "2026-11-01") == []


def test_purge_user_files_removes_the_whole_workspace_of_that_user_only(backend):
    backend.files.write_bytes("u1", "a/b.txt", b"one")
    backend.files.write_bytes("u1", "a/b.txt", b"two")  # an older version on S3
    backend.files.write_bytes("u1", "gone.txt", b"x")
    backend.files.delete("u1", "gone.txt")  # a delete marker on S3
    backend.files.write_bytes("u2", "keep.txt", b"mine")
    backend.files.purge_user("u1")
    backend.files.purge_user("u1")  # idempotent
    assert backend.files.list_files("u1") == []
    assert backend.files.read_bytes("u2", "keep.txt") == b"mine"


def test_delete_user_leaves_a_phone_another_account_holds_now(backend):
    make_user(backend)
    make_user(backend, "u2", "bob@example.com")
    backend.records.update_user("u1", phone="+14155550100")  # a stale number on the profile
    backend.records.link_phone("+14155550100", "u2")
    assert backend.records.delete_user("u1").user_id == "u1"
    assert backend.records.get_user("u1") is None
    assert backend.records.get_phone_user("+14155550100") == "u2"


# -- durable turn queue (delta3_core/turns) ---------------------------------------------------
def _job(job_id, lane="sms:+1555", text="hello"):
    from delta3_core.turns.jobs import JobRecord

    return JobRecord.new(job_id, "sms", lane, text, address={"phone": "+1555"})


def test_enqueue_claims_and_writes_the_job_in_one_step(backend):
    records = backend.records
    assert records.enqueue_job(_job("j1"), "sms:sid:S1", 60)
    assert not records.enqueue_job(_job("j2"), "sms:sid:S1", 60)  # the same message again: nothing written
    assert records.get_job("j2") is None
    assert not records.claim("sms:sid:S1", 60)
    assert [j.job_id for j in records.open_jobs()] == ["j1"]
    assert records.get_job("j1").address == {"phone": "+1555"} and records.get_job("nope") is None


def test_a_job_is_leased_once_and_written_only_by_its_lease_holder(backend):
    from delta3_core.turns.jobs import LeaseLost

    records = backend.records
    records.enqueue_job(_job("j1"), "k1", 60)
    seen = records.get_job("j1")
    mine = records.lease_job(seen, "worker-a", 30)
    assert mine.status == "running" and mine.attempts == 1 and mine.owner == "worker-a"
    assert records.lease_job(seen, "worker-b", 30) is None  # stale view: someone was first
    assert records.lease_job(records.get_job("j1"), "worker-b", 30) is None  # leased and not expired
    mine.progress = {"in_flight": "execute_shell"}
    records.save_job(mine)
    assert records.get_job("j1").progress == {"in_flight": "execute_shell"}
    intruder = records.get_job("j1")
    intruder.owner = "worker-b"
    with pytest.raises(LeaseLost):
        records.save_job(intruder)


def test_an_expired_lease_is_taken_again_and_fences_out_the_old_worker(backend):
    from delta3_core.turns.jobs import LeaseLost

    records = backend.records
    records.enqueue_job(_job("j1"), "k1", 60)
    old = records.lease_job(records.get_job("j1"), "worker-a", 0.05)
    time.sleep(0.1)
    new = records.lease_job(records.get_job("j1"), "worker-b", 30)
    assert new is not None and new.attempts == 2 and new.owner == "worker-b"
    old.note = "late write"
    with pytest.raises(LeaseLost):
        records.save_job(old)
    assert records.get_job("j1").owner == "worker-b"


def test_finished_jobs_leave_the_queue_and_failed_ones_are_listed(backend):
    records = backend.records
    for i in range(3):
        records.enqueue_job(_job(f"j{i}", lane=f"sms:+1{i}"), f"k{i}", 60)
    done = records.lease_job(records.get_job("j0"), "w", 30)
    done.status, done.reply, done.finished_at = "done", {"messages": ["hi"]}, time.time()
    records.save_job(done)
    failed = records.lease_job(records.get_job("j1"), "w", 30)
    failed.status, failed.note, failed.finished_at = "failed", "Twilio refused", time.time()
    records.save_job(failed)
    assert [j.job_id for j in records.open_jobs()] == ["j2"]
    assert [(j.job_id, j.note) for j in records.failed_jobs()] == [("j1", "Twilio refused")]
    assert records.get_job("j0").reply == {"messages": ["hi"]} and records.get_job("j0").status == "done"


def test_open_jobs_come_in_arrival_order(backend):
    records = backend.records
    for i in range(5):
        records.enqueue_job(_job(f"j{i}", lane="sms:+1" if i % 2 else "sms:+2"), f"k{i}", 60)
    assert [j.job_id for j in records.open_jobs()] == [f"j{i}" for i in range(5)]
    assert [j.job_id for j in records.open_jobs(limit=2)] == ["j0", "j1"]

# -- checkpoints (undo) ----------------------------------------------------------------------
def test_checkpoints_newest_first_and_undone_once(backend):
    from delta3_core.storage.base import CheckpointRecord

    now = time.time()
    for i in range(3):
        backend.records.put_checkpoint("u1", CheckpointRecord(f"t{i}", now + i, {"changes": [{"path": f"f{i}"}]}))
    backend.records.put_checkpoint("u2", CheckpointRecord("t9", now, {}))
    found = backend.records.recent_checkpoints("u1", 2)
    assert [c.turn_id for c in found] == ["t2", "t1"]
    assert found[0].data == {"changes": [{"path": "f2"}]} and found[0].undone is None
    assert backend.records.mark_checkpoint_undone("u1", "t2", {"by": "web"}) is True
    assert backend.records.mark_checkpoint_undone("u1", "t2", {"by": "sms"}) is False  # only once
    assert backend.records.mark_checkpoint_undone("u1", "missing", {"by": "sms"}) is False
    assert backend.records.recent_checkpoints("u1", 1)[0].undone == {"by": "web"}
    backend.records.mark_checkpoint_undone("u1", "t2", None)
    assert backend.records.recent_checkpoints("u1", 1)[0].undone is None
    backend.records.delete_checkpoints("u1", ["t2", "t0"])
    assert [c.turn_id for c in backend.records.recent_checkpoints("u1", 10)] == ["t1"]
    assert [c.turn_id for c in backend.records.recent_checkpoints("u2", 10)] == ["t9"]


def test_checkpoints_older_than_the_retention_are_gone(backend):
    from delta3_core.storage.base import CHECKPOINT_MAX_AGE_S, CheckpointRecord

    now = time.time()
    backend.records.put_checkpoint("u1", CheckpointRecord("t0", now - CHECKPOINT_MAX_AGE_S - 60, {}))
    backend.records.put_checkpoint("u1", CheckpointRecord("t1", now, {}))
    assert [c.turn_id for c in backend.records.recent_checkpoints("u1", 10)] == ["t1"]


def test_racing_undo_marks_are_won_once(concurrent_backend):
    from delta3_core.storage.base import CheckpointRecord

    backend = concurrent_backend
    backend.records.put_checkpoint("u1", CheckpointRecord("t0", time.time(), {}))
    gate = threading.Barrier(4)
    wins = []

    def mark(n):
        gate.wait()
        wins.append(backend.records.mark_checkpoint_undone("u1", "t0", {"by": n}))

    threads = [threading.Thread(target=mark, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False, False, False, True]


# -- account deletion of durable turn jobs ----------------------------------------------------
def test_delete_user_jobs_removes_open_finished_and_failed_jobs_of_that_user_only(backend):
    from delta3_core.turns.jobs import JobRecord

    records = backend.records
    jobs = [JobRecord.new("a1", "api", "api:u1", "open", user_id="u1"),
            JobRecord.new("a2", "api", "api:u1", "done", user_id="u1"),
            _job("s1", lane="sms:+1555"), JobRecord.new("s2", "sms", "sms:+1666", "failed", address={"phone": "+1666"}),
            JobRecord.new("b1", "api", "api:u2", "bob's", user_id="u2"), _job("s3", lane="sms:+1555")]
    for job in jobs:
        assert records.enqueue_job(job, f"k-{job.job_id}", 60)
    for job_id, status in (("a2", "done"), ("s2", "failed"), ("s3", "done")):
        taken = records.lease_job(records.get_job(job_id), "w", 30)
        taken.status, taken.finished_at = status, time.time()
        records.save_job(taken)
    records.delete_user_jobs("u1", "+1666")
    assert [j.job_id for j in records.open_jobs()] == ["s1", "b1"]
    assert records.failed_jobs() == [] and records.get_job("a2") is None and records.get_job("a1") is None
    records.delete_user_jobs("u3", "+1555")
    assert [j.job_id for j in records.open_jobs()] == ["b1"] and records.get_job("s3") is None
    records.delete_user_jobs("u3", None)  # no phone: nothing else goes
    assert records.get_job("b1").text == "bob's"
