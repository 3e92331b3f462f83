"""Helpers shared by the agent test files: a local deployment with users who have Gemini keys."""

from __future__ import annotations

from delta3_core import accounts, keys
from delta3_core.agent import ErrorEvent, Final, TextDelta, ToolFinished, ToolStarted
from delta3_core.services import Services
from delta3_core.storage import open_backend
from tests.fixtures.storage import local_settings

PASSWORD = "Correct-Horse-9-Battery"


def make_services(tmp_path, **overrides) -> Services:
    """Local-mode services in tmp_path (SQLite, folders, the real executor made on first use)."""
    settings = local_settings(tmp_path, **overrides)
    return Services(settings, open_backend(settings))


def add_user(services: Services, name: str, key: str | None = None) -> str:
    """Register `name`@example.com, save `key` as their Gemini key, and return the user id."""
    user = accounts.register(services.backend, f"{name}@example.com", PASSWORD)
    if key:
        keys.set_gemini_key(services.backend, user.user_id, key)
    return user.user_id


def kinds(events) -> list[str]:
    """Event types in order, with tool names: e.g. ['tool:write_file', 'done:write_file', 'text', 'final']."""
    names = []
    for event in events:
        if isinstance(event, ToolStarted):
            names.append(f"tool:{event.name}")
        elif isinstance(event, ToolFinished):
            names.append(f"done:{event.name}")
        elif isinstance(event, TextDelta):
            if not names or names[-1] != "text":
                names.append("text")
        elif isinstance(event, Final):
            names.append("final")
        elif isinstance(event, ErrorEvent):
            names.append(f"error:{event.kind}")
    return names


def finished(events) -> list[ToolFinished]:
    """The ToolFinished events."""
    return [e for e in events if isinstance(e, ToolFinished)]


def errors(events) -> list[ErrorEvent]:
    """The ErrorEvents."""
    return [e for e in events if isinstance(e, ErrorEvent)]
