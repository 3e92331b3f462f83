"""SMS text shaping: split long answers into numbered messages and page them with MORE."""

from __future__ import annotations

import json

SMS_MAX_CHARS = 1600  # Twilio refuses a message body longer than this
MESSAGES_PER_REPLY = 3  # more than this and the rest waits for MORE, so a long answer cannot flood a phone
PAGE_TTL_S = 24 * 3600
_MARK_ROOM = 12  # room for "\n(12/34)" on each numbered part
_MORE_NOTE = "\nReply MORE for the rest ({shown}/{total})."


def _cut_point(text: str, limit: int) -> int:
    """Where to cut `text` (longer than `limit`): the last paragraph, line, sentence or word break."""
    window = text[:limit]
    for sep in ("\n\n", "\n", ". ", " "):
        at = window.rfind(sep)
        if at >= limit // 2:  # a break too early would waste most of a message
            return at + len(sep)
    return limit


def split_text(text: str, limit: int = SMS_MAX_CHARS) -> list[str]:
    """Split `text` into parts of at most `limit` characters, numbered "(i/n)" when there are several."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    room = limit - _MARK_ROOM - len(_MORE_NOTE.format(shown=9999, total=9999))
    rest = text
    while rest:
        if len(rest) <= room:
            parts.append(rest)
            break
        cut = _cut_point(rest, room)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    total = len(parts)
    return [f"{part}\n({i}/{total})" for i, part in enumerate(parts, 1)]


def first_page(parts: list[str], per_reply: int = MESSAGES_PER_REPLY) -> tuple[list[str], list[str]]:
    """The messages to send now and the ones kept for MORE; the last one sent says how to get the rest."""
    if len(parts) <= per_reply:
        return list(parts), []
    return _page(parts, per_reply, shown_before=0, total=len(parts))


def next_page(saved: str, per_reply: int = MESSAGES_PER_REPLY) -> tuple[list[str], list[str], str]:
    """From a saved page state, the messages to send now, the ones still kept, and the new state."""
    state = json.loads(saved)
    rest, total = state["rest"], state["total"]
    shown_before = total - len(rest)
    if len(rest) <= per_reply:
        return rest, [], ""
    now, later = _page(rest, per_reply, shown_before, total)
    return now, later, save_pages(later, total)


def _page(parts: list[str], per_reply: int, shown_before: int, total: int) -> tuple[list[str], list[str]]:
    now, later = list(parts[:per_reply]), list(parts[per_reply:])
    now[-1] += _MORE_NOTE.format(shown=shown_before + per_reply, total=total)
    return now, later


def save_pages(rest: list[str], total: int) -> str:
    """Serialise the parts kept for MORE."""
    return json.dumps({"rest": rest, "total": total})
