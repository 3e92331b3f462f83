"""Token usage per user per day, counted in the store so every replica and channel adds up."""

from __future__ import annotations

from .errors import ValidationError
from .storage.base import Backend

DAY_S = 24 * 3600  # the store's windows align to the epoch, so a day here is a UTC day
_FIELDS = ("tokens_in", "tokens_out", "requests")


def _key(user_id: str, name: str) -> str:
    return f"usage:{user_id}:{name}"


def record_usage(backend: Backend, user_id: str, tokens_in: int, tokens_out: int) -> None:
    """Add one answered message (`requests`, however many model calls it took) and its tokens to today."""
    for name, value in (("tokens_in", tokens_in), ("tokens_out", tokens_out)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValidationError(f"Token counts must be whole numbers of zero or more ({name}={value!r}).")
    backend.records.incr_counter(_key(user_id, "requests"), DAY_S, 1)
    if tokens_in:
        backend.records.incr_counter(_key(user_id, "tokens_in"), DAY_S, tokens_in)
    if tokens_out:
        backend.records.incr_counter(_key(user_id, "tokens_out"), DAY_S, tokens_out)


def usage_today(backend: Backend, user_id: str) -> dict[str, int]:
    """Today's (UTC) totals: tokens_in, tokens_out, total_tokens and requests (messages answered)."""
    # Adding 0 reads the current window's value without changing it.
    totals = {name: backend.records.incr_counter(_key(user_id, name), DAY_S, 0) for name in _FIELDS}
    totals["total_tokens"] = totals["tokens_in"] + totals["tokens_out"]
    return totals
