"""Export: one zip with the workspace, the kept history (tool records and usage included) and the account.

Never the Gemini key or the password hash; nor undo's checkpoints (earlier contents of files, kept at most 30 days
to revert turns: the workspace as it is now is the data). Layout of the archive:
    account.json        email, phone, model, created_at, daily_token_limit, usage of the last 30 days
    history.json        every kept message: seq, role, content, channel, created_at, meta (tools, usage)
    workspace/<path>    every file of the workspace
"""

from __future__ import annotations

import json
import time
import zipfile
from dataclasses import asdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, BinaryIO

from .. import budget, history, usage
from ..prices import load_prices
from ..workspace import Workspace
from .users import require_user

if TYPE_CHECKING:
    from delta3_core.services import Services


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def account_document(services: Services, user_id: str) -> dict[str, Any]:
    """What the account holds, as shown to its owner (no key, no password hash)."""
    user = require_user(services.backend, user_id)
    recent = usage.usage_history(services.backend, user_id, load_prices(services.settings.prices))
    return {"email": user.email, "phone": user.phone, "model": user.model or services.settings.model,
            "created_at": _iso(user.created_at), "has_gemini_key": bool(user.gemini_key_ct),
            "daily_token_limit": budget.effective_limit(services.settings, user) or None,
            "usage_last_30_days": {"days": [d for d in recent.days if d["requests"]], "by_model": recent.by_model}}


def history_document(services: Services, user_id: str) -> list[dict[str, Any]]:
    """Every kept message, oldest first, with its tool and usage details."""
    return [{**asdict(m), "created_at": _iso(m.created_at)} for m in history.recent(services.backend, user_id)]


def write_export(services: Services, user_id: str, out: BinaryIO) -> int:
    """Write the export zip into `out`; return the number of workspace files in it."""
    account = account_document(services, user_id)
    messages = history_document(services, user_id)
    stamp = time.gmtime()[:6]
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, document in (("account.json", account), ("history.json", messages)):
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp),
                             json.dumps(document, ensure_ascii=False, indent=2, default=str))
        workspace = Workspace(services.backend, user_id, services.settings.quota_bytes)
        return workspace.add_to_zip(archive, prefix="workspace/")
