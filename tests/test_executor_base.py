"""The executor contract: limits from settings, results the model can read, request checks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from delta3_core.errors import ValidationError
from delta3_core.executor import Limits, RunResult, sandbox_status
from delta3_core.executor.contract import check_request
from delta3_core.executor.supervisor.outcome import Outcome, to_result


def test_limits_follow_the_settings(sandbox_settings):
    limits = Limits.from_settings(replace(sandbox_settings, run_wall_s=7.5, sandbox_network=True))
    assert (limits.wall_s, limits.cpu_s, limits.memory_mb, limits.processes) == (7.5, 8, 256, 32)
    assert (limits.file_mb, limits.output_kb, limits.disk_mb, limits.network) == (5, 16, 20, True)
    assert Limits.from_dict({**limits.to_dict(), "future_field": 1}) == limits


def test_summary_leads_with_the_message_and_keeps_the_end_of_a_long_traceback():
    result = RunResult(stdout="x" * 5000, stderr="Traceback...\n" + "y" * 5000 + "\nValueError: bad input",
                       exit_code=1, message="Failed with exit code 1.", files_changed=["a.txt"],
                       sync_failed=["b.txt"])
    text = result.summary(2000)
    assert len(text) <= 2000
    assert text.startswith("Failed with exit code 1.\nFiles changed: a.txt\nNOT saved: b.txt")
    assert text.endswith("ValueError: bad input") and "[... cut ...]" in text


def test_results_round_trip_through_plain_dicts():
    result = RunResult(stdout="hi", exit_code=0, files_changed=["f"], message="ok")
    assert RunResult.from_dict({**result.to_dict(), "extra": True}) == result
    assert result.ok and not RunResult(exit_code=0, sync_failed=["f"]).ok


@pytest.mark.parametrize("returncode, stderr, expected", [
    (-24, b"", "cpu_time"),                       # SIGXCPU from RLIMIT_CPU
    (152, b"", "cpu_time"),                       # the same, reported by bwrap as 128 + 24
    (1, b"MemoryError\n", "memory"),
    (1, b"OSError: [Errno 27] File too large\n", "file_size"),
    (1, b"BlockingIOError: [Errno 11] Resource temporarily unavailable\n", "processes"),
    (1, b"ValueError: nope\n", None),
])
def test_limits_are_recognised_from_how_the_process_ended(returncode, stderr, expected):
    result = to_result(Outcome(stderr=stderr, returncode=returncode), Limits())
    assert result.limit_hit == expected
    assert result.message.endswith(".") and "\n" not in result.message


def test_requests_are_checked(sandbox_settings):
    check_request("shell", "ls")
    with pytest.raises(ValidationError, match="NUL"):
        check_request("python", "print(1)\x00")
    with pytest.raises(ValidationError, match="must be text"):
        check_request("python", b"print(1)")


def test_status_in_lambda_mode_names_the_function(sandbox_settings):
    settings = replace(sandbox_settings, executor="lambda", executor_function="delta3-prod-executor")
    assert sandbox_status(settings) == "ok: code runs in the executor Lambda delta3-prod-executor."
