"""API rate limits, counted in the store so every replica shares them: per token, per account, per source.

Requests with a token count against that token and against its account (several tokens do not multiply
an account's allowance); requests without one (register, login) count against their source address.
Each limit is per minute, in fixed windows; the 429 says when the window ends.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from .. import store_keys
from .problems import Problem, retry_after

if TYPE_CHECKING:
    from delta3_core.config import Settings
    from delta3_core.services import Services

WINDOW_S = 60


def counted_keys(settings: Settings, call: Any) -> list[tuple[str, int, str]]:
    """(counter key, limit, what is limited) for this call."""
    if call.bearer is not None:
        return [(store_keys.api_rate_token(call.token), settings.api_rate_per_token, "this token"),
                (store_keys.api_rate_account(call.user_id), settings.api_rate_per_account, "this account")]
    source = call.request.remote_addr
    return [(store_keys.api_rate_source(source), settings.api_rate_per_source, "your address")] if source else []


def check_rate(services: Services, op: Any, request: Any, call: Any) -> None:
    """Count this request; Problem 429 with Retry-After once a limit is passed."""
    for key, limit, what in counted_keys(services.settings, call):
        count = services.backend.records.incr_counter(key, WINDOW_S, 1)
        if count > limit:
            wait = WINDOW_S - (time.time() % WINDOW_S)
            raise Problem(429, f"Too many requests from {what} ({limit} a minute); try again in "
                               f"{math.ceil(wait)} seconds.", retry_after(wait))
