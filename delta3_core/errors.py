"""Domain errors: raised in the core, turned into a message once per boundary."""

from __future__ import annotations


class Delta3Error(Exception):
    """Base class; str(error) is a plain sentence safe to show a user."""


class ConfigError(Delta3Error):
    """A setting is missing or invalid; the message names it."""


class ValidationError(Delta3Error):
    """The user's input is not acceptable (bad email, weak password, bad path...)."""


class AuthError(Delta3Error):
    """Wrong credentials, or a session that is expired or revoked."""


class ThrottledError(Delta3Error):
    """Too many attempts; try again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float = 0.0):
        super().__init__(message)
        self.retry_after = retry_after


class ConflictError(Delta3Error):
    """The thing already exists or is taken (duplicate email, phone linked elsewhere)."""


class NotFoundError(Delta3Error):
    """The record or file does not exist."""


class QuotaExceededError(Delta3Error):
    """The user's workspace storage quota would be exceeded."""


class StorageError(Delta3Error):
    """The store (SQLite, DynamoDB, S3, KMS) failed; nothing half-written was kept."""


class KeyDecryptError(Delta3Error):
    """A stored Gemini key could not be decrypted (corrupted, or not this user's)."""


class ExecutorError(Delta3Error):
    """Code could not be run (not: the code ran and failed)."""


class SandboxUnavailableError(ExecutorError):
    """The sandbox cannot run on this host; the message says how to fix it."""


class ModelError(Delta3Error):
    """Gemini failed; `kind` is a short code such as 'invalid_key' or 'quota'."""

    def __init__(self, message: str, kind: str = "error"):
        super().__init__(message)
        self.kind = kind


class DailyLimitError(ThrottledError):
    """The user's daily token limit is reached; the message names the limit and when it resets."""
