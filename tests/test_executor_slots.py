"""Runs at once: per user, and within the host's memory budget."""

from __future__ import annotations

import pytest

from delta3_core.errors import ExecutorError
from delta3_core.executor.local.slots import RunSlots


def test_runs_together_stay_within_the_hosts_memory_budget():
    slots = RunSlots(per_user=5, budget_mb=600)
    with (slots.hold("alice", 256, wait_s=0), slots.hold("bob", 256, wait_s=0),
          pytest.raises(ExecutorError, match="Too much code is running at once"),
          slots.hold("carol", 256, wait_s=0)):
        pass
    with slots.hold("carol", 256, wait_s=0):  # freed again once the others finished
        pass


def test_one_user_waits_for_a_free_slot_but_others_do_not():
    slots = RunSlots(per_user=1, budget_mb=10_000)
    with slots.hold("alice", 256, wait_s=0):
        with pytest.raises(ExecutorError), slots.hold("alice", 256, wait_s=0.05):
            pass
        with slots.hold("bob", 256, wait_s=0):
            pass


def test_a_run_larger_than_the_whole_budget_still_runs_alone():
    slots = RunSlots(budget_mb=100)
    with slots.hold("alice", 512, wait_s=0):
        pass
