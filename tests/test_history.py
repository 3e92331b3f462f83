"""Chat history: newest 100 kept, newest 20 sent to the model, cleared on request."""

from __future__ import annotations

import pytest

from delta3_core import history
from delta3_core.errors import ValidationError
from delta3_core.storage.base import HISTORY_KEEP, Message


def say(n: int, channel: str = "web") -> list[Message]:
    return [Message(role="user" if i % 2 == 0 else "assistant", content=f"message {i}", channel=channel)
            for i in range(n)]


def test_context_is_the_newest_twenty_oldest_first(backend):
    history.append(backend, "u1", say(30))
    context = history.context(backend, "u1")
    assert [m.content for m in context] == [f"message {i}" for i in range(10, 30)]
    assert all(m.created_at > 0 for m in context)
    assert [m.seq for m in context] == sorted(m.seq for m in context)


def test_only_the_newest_hundred_are_kept(backend):
    for start in range(0, 130, 13):
        history.append(backend, "u1", [Message("user", f"m{i}") for i in range(start, start + 13)])
    kept = history.recent(backend, "u1", limit=500)
    assert len(kept) == HISTORY_KEEP
    assert kept[0].content == "m30" and kept[-1].content == "m129"


def test_tool_records_keep_their_details(backend):
    history.append(backend, "u1", [Message("tool", "execute_python: exit 0", meta={"tool": "execute_python",
                                                                                    "ok": True})])
    (stored,) = history.context(backend, "u1")
    assert stored.role == "tool" and stored.meta == {"tool": "execute_python", "ok": True}


def test_users_do_not_see_each_others_history_and_clear_is_per_user(backend):
    history.append(backend, "u1", say(3))
    history.append(backend, "u2", [Message("user", "hello from u2", channel="sms")])
    history.clear(backend, "u1")
    assert history.context(backend, "u1") == []
    assert [m.content for m in history.context(backend, "u2")] == ["hello from u2"]


def test_a_bad_role_is_refused_and_nothing_of_the_batch_is_saved(backend):
    with pytest.raises(ValidationError, match="role"):
        history.append(backend, "u1", [Message("user", "fine"), Message("system", "sneaky")])
    assert history.context(backend, "u1") == []
