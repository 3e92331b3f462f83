"""Daily token budgets: each user's own limit within the operator's default and maximum."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from . import usage
from .errors import DailyLimitError, ValidationError
from .storage.base import UserRecord

if TYPE_CHECKING:
    from delta3_core.config import Settings
    from delta3_core.services import Services

PREF = "daily_token_limit"  # in UserRecord.prefs; absent means the operator's default


def user_limit(user: UserRecord) -> int | None:
    """The limit the user set, or None when they use the default."""
    value = (user.prefs or {}).get(PREF)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def effective_limit(settings: Settings, user: UserRecord) -> int:
    """Tokens the user may spend per UTC day; 0 means no limit."""
    limit = user_limit(user) or settings.daily_token_limit or settings.daily_token_limit_max
    if settings.daily_token_limit_max:
        limit = min(limit, settings.daily_token_limit_max)
    return limit


def set_daily_limit(services: Services, user_id: str, limit: int | None) -> UserRecord:
    """Set the user's own daily token limit (a positive whole number up to the maximum); None: the default."""
    from .accounts import require_user

    user = require_user(services.backend, user_id)
    prefs = dict(user.prefs or {})
    if limit is None:
        prefs.pop(PREF, None)
    else:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
            raise ValidationError("The daily token limit must be a whole number above zero.")
        ceiling = services.settings.daily_token_limit_max
        if ceiling and limit > ceiling:
            raise ValidationError(f"The daily token limit can be at most {ceiling:,} on this server.")
        prefs[PREF] = limit
    return services.backend.records.update_user(user_id, prefs=prefs)


def seconds_to_reset(now: float | None = None) -> float:
    """Seconds until the next UTC midnight, when the daily count starts again."""
    now = time.time() if now is None else now
    return max(1.0, usage.DAY_S - now % usage.DAY_S)


def check_daily_limit(services: Services, user: UserRecord) -> None:
    """DailyLimitError (naming the limit and the reset time) when today's tokens have reached the limit."""
    limit = effective_limit(services.settings, user)
    if not limit:
        return
    used = usage.usage_today(services.backend, user.user_id)["total_tokens"]
    if used < limit:
        return
    wait = seconds_to_reset()
    hours, minutes = divmod(math.ceil(wait / 60), 60)
    raise DailyLimitError(
        f"You have used your daily limit of {limit:,} tokens ({used:,} today). It resets at 00:00 UTC, "
        f"in {hours} h {minutes} min.", retry_after=wait)
