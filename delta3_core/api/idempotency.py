"""Idempotency-Key: a retried POST gets the first answer back instead of doing the work twice.

The key is claimed in the store (shared by every replica) before the work starts; the answer is kept
for a day. A retry while the first request still runs gets 409 with Retry-After; the same key with a
different body gets 422 (as Stripe does). A claim whose request died expires, so a later retry runs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .. import store_keys
from .problems import Problem, retry_after

HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 255
ANSWER_TTL_S = 24 * 3600
CLAIM_TTL_S = 15 * 60  # longer than any turn; a claim left by a crashed request frees itself after this


def fingerprint(body: bytes) -> str:
    """A digest of the request body, to tell a retry from a different request reusing the key."""
    return hashlib.sha256(body).hexdigest()


def clean_key(raw: str | None) -> str | None:
    """The header's key, or None if absent; Problem 400 if it is empty or too long."""
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
        raise Problem(400, f"An Idempotency-Key is 1 to {MAX_KEY_CHARS} printable characters.")
    return key


def begin(records: Any, user_id: str, key: str, body_digest: str) -> dict[str, Any] | None:
    """Claim the key for this request (None: go ahead), or return the stored first answer; Problem otherwise."""
    store_key = store_keys.idempotency(user_id, key)
    raw = records.get_value(store_key)
    saved = json.loads(raw) if raw else {}
    if saved.get("request") not in (None, body_digest):
        raise Problem(422, "This Idempotency-Key was used for a different request; use a new key.")
    if "answer" in saved:
        return saved
    if records.claim(store_key, CLAIM_TTL_S):  # the answer is not kept yet, and nobody else is working on it
        records.put_value(store_key, json.dumps({"request": body_digest}), CLAIM_TTL_S)
        return None
    raise Problem(409, "The first request with this Idempotency-Key is still running; retry in a moment.",
                  retry_after(5))


def finish(records: Any, user_id: str, key: str, body_digest: str, status: int, answer: dict[str, Any]) -> None:
    """Keep the answer for a day, for retries with the same key."""
    records.put_value(store_keys.idempotency(user_id, key), json.dumps({"request": body_digest, "status": status,
                                                            "answer": answer}), ANSWER_TTL_S)
