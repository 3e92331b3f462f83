"""Account deletion: the account goes in one step; its data is purged now, or by a later retry.

`delete_account` removes the profile with its email and phone claims and queues a purge in one
store transaction, so the account is never half-alive: sessions and tokens stop resolving, the
phone is free and the email can register again at once. The purge (records, pending SMS pages,
durable turn jobs, undo checkpoints, files with every S3 version) is idempotent; whatever fails
stays queued for `purge_pending` (called by the next deletion, and by `python -m delta3_core purge`).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checkpoints import forget
from ..errors import Delta3Error
from ..storage.base import PurgeJob
from .users import confirm_owner, require_user

log = logging.getLogger("delta3.accounts")
RETRY_OTHERS = 5  # queued purges of other accounts a deletion also retries, so the queue drains by itself


@dataclass
class DeletionResult:
    """`complete` is False when some data is still queued for purging (the account is gone either way)."""

    complete: bool


def delete_account(services: Any, user_id: str, password: str | None, email: str | None = None) -> DeletionResult:
    """Delete the account after checking its password (AuthError if wrong), then purge everything of it.

    An account made by signing in with Google has no password: the typed email confirms instead.
    """
    backend = services.backend
    user = require_user(backend, user_id)
    confirm_owner(backend, user, password, email)
    deleted = backend.records.delete_user(user_id)
    complete = True
    if deleted is not None:
        complete = purge(services, PurgeJob(user_id, 0.0, deleted.phone), email=deleted.email)
    purge_pending(services, limit=RETRY_OTHERS)
    return DeletionResult(complete)


def purge(services: Any, job: PurgeJob, email: str | None = None) -> bool:
    """Remove what is left of a deleted account; True when done, False when it stays queued."""
    backend = services.backend
    try:
        backend.records.purge_user_records(job.user_id)
        backend.records.delete_user_jobs(job.user_id, job.phone)
        forget(services, job.user_id)  # undo's checkpoints, and locally the old contents kept for them
        for key in _value_keys(job, email):
            backend.records.delete_value(key)
        backend.files.purge_user(job.user_id)
        _remove_local_caches(services.settings, job.user_id)
        backend.records.finish_purge(job.user_id)
    except Delta3Error as exc:
        log.warning("purge of deleted account %s left for a retry: %s", job.user_id, exc)
        return False
    return True


def purge_pending(services: Any, limit: int | None = None) -> tuple[int, int]:
    """Retry queued purges (oldest first, at most `limit`); return (finished, still queued)."""
    try:
        jobs = services.backend.records.pending_purges()
    except Delta3Error as exc:
        log.warning("could not read the purge queue: %s", exc)
        return 0, -1
    done = sum(purge(services, job) for job in jobs[:limit])
    return done, len(jobs) - done


def _value_keys(job: PurgeJob, email: str | None) -> list[str]:
    """Short-lived values that name the account: pending SMS pages, phone and password codes."""
    from ..sms.handlers import more_key
    from .phone_verify import pending_key
    from .reset import reset_key

    keys = [pending_key(job.user_id)]
    if job.phone:
        keys.append(more_key(job.phone, job.user_id))
    if email:
        keys.append(reset_key(email))
    return keys


def _remove_local_caches(settings: Any, user_id: str) -> None:
    """The AWS backend's local run cache (DELTA3_EXECUTOR=local) holds a copy of the workspace."""
    cache = Path(settings.data_dir) / "executor-cache" / user_id
    if settings.backend == "aws" and cache.is_dir() and not cache.is_symlink():
        shutil.rmtree(cache)
