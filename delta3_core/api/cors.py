"""CORS: off unless DELTA3_API_CORS_ORIGINS lists the browser origins allowed to call the API."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from delta3_core.config import Settings

ALLOWED_HEADERS = "Authorization, Content-Type, Accept, Idempotency-Key"
EXPOSED_HEADERS = "Retry-After, Idempotent-Replayed, Content-Disposition"
MAX_AGE_S = 600


def cors_headers(settings: Settings, origin: str | None, preflight: bool, methods: str = "") -> dict[str, str]:
    """The CORS headers for a request from `origin` (none unless that origin is listed)."""
    if not origin or origin not in settings.api_cors_origins:
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
               "Access-Control-Expose-Headers": EXPOSED_HEADERS}
    if preflight:
        headers.update({"Access-Control-Allow-Methods": methods, "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                        "Access-Control-Max-Age": str(MAX_AGE_S)})
    return headers
