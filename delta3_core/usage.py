"""Token usage per user, per UTC day and model, kept in the store so every replica and channel adds up."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .errors import ValidationError
from .prices import PriceTable
from .storage.base import USAGE_COUNTS, Backend

DAY_S = 24 * 3600
HISTORY_DAYS = 30
_TOKENS = ("tokens_in", "tokens_out", "tokens_thinking")


def day_of(now: float | None = None) -> str:
    """The UTC day (YYYY-MM-DD) of `now` (default: the current time)."""
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if now is None else now))


def record_usage(backend: Backend, user_id: str, tokens_in: int, tokens_out: int, tokens_thinking: int = 0,
                 model: str = "unknown") -> None:
    """Add one answered message (`requests`, however many model calls it took) and its tokens to today."""
    counts = {"tokens_in": tokens_in, "tokens_out": tokens_out, "tokens_thinking": tokens_thinking}
    for name, value in counts.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValidationError(f"Token counts must be whole numbers of zero or more ({name}={value!r}).")
    backend.records.add_usage(user_id, day_of(), model or "unknown", {**counts, "requests": 1})


def usage_today(backend: Backend, user_id: str) -> dict[str, int]:
    """Today's (UTC) totals over all models: the token counts, total_tokens and requests (messages answered)."""
    totals = dict.fromkeys(USAGE_COUNTS, 0)
    for row in backend.records.usage_rows(user_id, day_of()):
        for name in USAGE_COUNTS:
            totals[name] += getattr(row, name)
    totals["total_tokens"] = sum(totals[name] for name in _TOKENS)
    return totals


@dataclass
class UsageHistory:
    """The last days of usage: one entry per day (zeros included), totals by model, estimated cost."""

    days: list[dict[str, int | str]] = field(default_factory=list)
    by_model: dict[str, dict[str, int | float | None]] = field(default_factory=dict)
    cost: float = 0.0  # over the models the price table knows
    unpriced: list[str] = field(default_factory=list)  # models without a price
    price_date: str = ""


def usage_history(backend: Backend, user_id: str, prices: PriceTable, days: int = HISTORY_DAYS,
                  now: float | None = None) -> UsageHistory:
    """Usage of the last `days` UTC days (today included), per day and per model, with an estimated cost."""
    now = time.time() if now is None else now
    names = [day_of(now - DAY_S * back) for back in range(days - 1, -1, -1)]
    per_day = {name: {"day": name, **dict.fromkeys(USAGE_COUNTS, 0)} for name in names}
    history = UsageHistory(days=list(per_day.values()), price_date=prices.source_date)
    for row in backend.records.usage_rows(user_id, names[0]):
        totals = history.by_model.setdefault(row.model, dict.fromkeys(USAGE_COUNTS, 0))
        for name in USAGE_COUNTS:
            totals[name] += getattr(row, name)
            if row.day in per_day:
                per_day[row.day][name] += getattr(row, name)
    for model, totals in history.by_model.items():
        totals["cost"] = prices.cost(model, totals["tokens_in"], totals["tokens_out"], totals["tokens_thinking"])
        if totals["cost"] is None:
            history.unpriced.append(model)
        else:
            history.cost += totals["cost"]
    return history
