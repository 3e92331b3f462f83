"""Token usage per user per day, shared by every replica through the store."""

from __future__ import annotations

import pytest

from delta3_core import usage
from delta3_core.errors import ValidationError


def test_usage_adds_up_per_user(backend):
    assert usage.usage_today(backend, "u1") == {"tokens_in": 0, "tokens_out": 0, "requests": 0, "total_tokens": 0}
    usage.record_usage(backend, "u1", 120, 30)
    usage.record_usage(backend, "u1", 80, 0)
    usage.record_usage(backend, "u2", 5, 5)
    assert usage.usage_today(backend, "u1") == {"tokens_in": 200, "tokens_out": 30, "requests": 2,
                                                "total_tokens": 230}
    assert usage.usage_today(backend, "u2")["total_tokens"] == 10


@pytest.mark.parametrize(("tokens_in", "tokens_out"), [(-1, 0), (0, 1.5), ("10", 0), (True, 0)])
def test_bad_counts_are_refused_and_nothing_is_counted(backend, tokens_in, tokens_out):
    with pytest.raises(ValidationError, match="Token counts"):
        usage.record_usage(backend, "u1", tokens_in, tokens_out)
    assert usage.usage_today(backend, "u1")["requests"] == 0
