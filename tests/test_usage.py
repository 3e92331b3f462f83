"""Token usage per user, day and model, shared by every replica through the store; prices; daily budgets."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from delta3_core import budget, usage
from delta3_core.errors import ConfigError, DailyLimitError, ValidationError
from delta3_core.prices import PriceTable, load_prices
from delta3_core.services import Services
from delta3_core.storage.base import UserRecord

ZERO = {"tokens_in": 0, "tokens_out": 0, "tokens_thinking": 0, "requests": 0, "total_tokens": 0}


def test_usage_adds_up_per_user(backend):
    assert usage.usage_today(backend, "u1") == ZERO
    usage.record_usage(backend, "u1", 120, 30, 7, model="gemini-2.5-flash")
    usage.record_usage(backend, "u1", 80, 0, model="gemini-2.5-pro")
    usage.record_usage(backend, "u2", 5, 5)
    assert usage.usage_today(backend, "u1") == {"tokens_in": 200, "tokens_out": 30, "tokens_thinking": 7,
                                                "requests": 2, "total_tokens": 237}
    assert usage.usage_today(backend, "u2")["total_tokens"] == 10


@pytest.mark.parametrize(("tokens_in", "tokens_out"), [(-1, 0), (0, 1.5), ("10", 0), (True, 0)])
def test_bad_counts_are_refused_and_nothing_is_counted(backend, tokens_in, tokens_out):
    with pytest.raises(ValidationError, match="Token counts"):
        usage.record_usage(backend, "u1", tokens_in, tokens_out)
    assert usage.usage_today(backend, "u1")["requests"] == 0


def test_history_has_thirty_days_totals_by_model_and_cost(backend):
    now = time.time()
    for back, model, counts in ((0, "gemini-2.5-flash", (1_000_000, 100_000, 50_000)),
                                (0, "gemini-2.5-pro", (10, 0, 0)),
                                (3, "gemini-2.5-flash", (2_000, 1_000, 0)),
                                (29, "my-own-model", (5, 5, 5)),
                                (31, "gemini-2.5-flash", (9_999, 9_999, 9_999))):  # too old: not shown
        backend.records.add_usage("u1", usage.day_of(now - back * usage.DAY_S), model,
                                  dict(zip(("tokens_in", "tokens_out", "tokens_thinking"), counts, strict=True),
                                       requests=1))
    found = usage.usage_history(backend, "u1", load_prices(), now=now)
    assert len(found.days) == 30 and found.days[-1]["day"] == usage.day_of(now)
    assert found.days[-1]["tokens_in"] == 1_000_010 and found.days[-1]["tokens_thinking"] == 50_000
    assert found.days[-4]["tokens_out"] == 1_000 and found.days[0]["tokens_in"] == 5
    assert sum(day["requests"] for day in found.days) == 4
    assert set(found.by_model) == {"gemini-2.5-flash", "gemini-2.5-pro", "my-own-model"}
    assert found.by_model["gemini-2.5-flash"]["tokens_in"] == 1_002_000
    # 1.002M in at $0.30 + 151k out and thinking at $2.50 per million; pro: 10 in at $1.25
    assert found.by_model["gemini-2.5-flash"]["cost"] == pytest.approx(0.3006 + 0.3775)
    assert found.cost == pytest.approx(0.3006 + 0.3775 + 10 * 1.25 / 1e6)
    assert found.unpriced == ["my-own-model"] and found.price_date


def test_price_table_matches_versioned_names_and_the_operator_can_replace_it(tmp_path):
    table = load_prices()
    assert table.price_of("gemini-2.5-flash-lite") == (0.10, 0.40)  # not the shorter "gemini-2.5-flash"
    assert table.price_of("models/gemini-2.5-flash-preview-09-2025") == (0.30, 2.50)
    assert table.price_of("gemini-2.5-flashy") is None
    own = tmp_path / "prices.json"
    own.write_text(json.dumps({"source_date": "2027-01-01", "models": {"m": {"input": 1, "output": 2}}}))
    mine = load_prices(str(own))
    assert load_prices(own.read_text()) == mine  # the JSON itself works too (no file on a Lambda)
    assert mine == PriceTable("2027-01-01", {"m": (1.0, 2.0)})
    assert mine.cost("m", 1_000_000, 1_000_000, 1_000_000) == 5.0
    own.write_text('{"models": {"m": {"input": -1, "output": 2}}}')
    with pytest.raises(ConfigError, match="DELTA3_PRICES"):
        load_prices(str(own))
    with pytest.raises(ConfigError, match="DELTA3_PRICES"):
        load_prices(str(own) + ".missing")


def _services(backend, settings, **limits):
    return Services(replace(settings, **limits), backend)


def _user(backend, user_id="u1"):
    backend.records.create_user(UserRecord(user_id, f"{user_id}@example.com", "h", time.time()))
    return backend.records.get_user(user_id)


def test_limit_is_the_users_own_within_the_operators_maximum(backend, settings):
    user = _user(backend)
    assert budget.effective_limit(settings, user) == 0  # no limit by default
    services = _services(backend, settings, daily_token_limit=1000, daily_token_limit_max=5000)
    assert budget.effective_limit(services.settings, user) == 1000
    user = budget.set_daily_limit(services, "u1", 4000)
    assert budget.effective_limit(services.settings, user) == 4000
    with pytest.raises(ValidationError, match="at most 5,000"):
        budget.set_daily_limit(services, "u1", 5001)
    for bad in (0, -5, 2.5, "100", True):
        with pytest.raises(ValidationError):
            budget.set_daily_limit(services, "u1", bad)
    assert budget.user_limit(backend.records.get_user("u1")) == 4000  # refused values changed nothing
    user = budget.set_daily_limit(services, "u1", None)
    assert budget.effective_limit(services.settings, user) == 1000
    only_max = _services(backend, settings, daily_token_limit_max=300)
    assert budget.effective_limit(only_max.settings, user) == 300


def test_reaching_the_limit_refuses_with_the_limit_and_reset_time(backend, settings):
    services = _services(backend, settings, daily_token_limit=1000)
    user = _user(backend)
    usage.record_usage(backend, "u1", 600, 300, 99)
    budget.check_daily_limit(services, user)  # 999 < 1000
    usage.record_usage(backend, "u1", 1, 0)
    with pytest.raises(DailyLimitError, match=r"daily limit of 1,000 tokens \(1,000 today\).*00:00 UTC") as refused:
        budget.check_daily_limit(services, user)
    assert 0 < refused.value.retry_after <= usage.DAY_S
    budget.check_daily_limit(services, _user(backend, "u2"))  # another user is not affected


def test_limit_settings_are_checked(tmp_path):
    from tests.fixtures.storage import local_settings

    with pytest.raises(ConfigError, match="DELTA3_DAILY_TOKEN_LIMIT must not be above"):
        local_settings(tmp_path, daily_token_limit=10, daily_token_limit_max=5)
