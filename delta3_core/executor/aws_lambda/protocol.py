"""The executor Lambda's event and answer (documented in executor_lambda/README.md): checks and size caps."""

from __future__ import annotations

import json
from typing import Any

from ...storage.codec import workspace_prefix
from ..contract import ValidationError, check_request

EVENT_VERSION = 1
MAX_RESULT_BYTES = 5_500_000  # Lambda's synchronous response limit is 6 MB; keep a margin
MAX_OUTPUT_KB = 1024
MAX_LISTED = 1000
MAX_ITEM_CHARS = 1024  # an S3 key is at most 1024 bytes: a longer path never syncs anyway
LISTS = ("files_changed", "skipped", "sync_failed")
LIST_MARKER = "... and "


def parse_event(event: Any) -> dict[str, Any]:
    """Check the event's shape; ValidationError if wrong."""
    if not isinstance(event, dict) or event.get("version") != EVENT_VERSION:
        raise ValidationError(f"The executor event must be an object with version {EVENT_VERSION}.")
    storage = event.get("storage")
    if not isinstance(storage, dict) or not isinstance(storage.get("credentials"), dict):
        raise ValidationError("The executor event has no storage credentials.")
    user_id = event.get("user_id")
    if not isinstance(user_id, str) or storage.get("prefix") != workspace_prefix(user_id):
        raise ValidationError("The executor event's prefix does not belong to its user.")
    check_request(event.get("kind"), event.get("source"))
    if not isinstance(storage.get("bucket"), str):
        raise ValidationError("The executor event has no bucket.")
    return event


def fit_result(result: dict[str, Any]) -> dict[str, Any]:
    """Keep the answer under Lambda's response limit: long output, lists and paths are cut, with a marker."""
    totals = {name: len(result.get(name) or []) for name in LISTS}
    for name in LISTS:
        result[name] = _listed([_clip_item(str(item)) for item in (result.get(name) or [])[:MAX_LISTED]],
                               totals[name])
    while len(json.dumps(result).encode()) > MAX_RESULT_BYTES:
        shrunk = False
        for stream in ("stdout", "stderr"):
            text = result.get(stream) or ""
            if len(text) > 1024:
                result[stream] = text[: len(text) // 2] + "\n[output truncated to fit the response size limit]"
                result[f"{stream}_truncated"] = shrunk = True
        if shrunk:
            continue
        for name in LISTS:  # output is already small: halve the lists (never loops forever)
            kept = [item for item in result[name] if not item.startswith(LIST_MARKER)]
            result[name] = _listed(kept[: len(kept) // 2], totals[name])
    return result


def _clip_item(item: str) -> str:
    return item if len(item) <= MAX_ITEM_CHARS else item[:MAX_ITEM_CHARS] + "..."


def _listed(items: list[str], total: int) -> list[str]:
    return items + [f"{LIST_MARKER}{total - len(items)} more"] if total > len(items) else items
