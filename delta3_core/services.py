"""Services: settings + storage backend + executor, built once per process and passed down."""

from __future__ import annotations

import threading
from typing import Any

from .config import Settings, load_settings
from .storage.base import Backend


class Services:
    """What an entry point hands to the core: settings, backend, and an executor made on first use."""

    def __init__(self, settings: Settings, backend: Backend, executor: Any = None):
        self.settings = settings
        self.backend = backend
        self._executor = executor
        self._lock = threading.Lock()

    @property
    def executor(self) -> Any:
        """The code executor; built on first use so pages that never run code never pay for it."""
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    from .executor import make_executor  # imported late: optional for most callers

                    self._executor = make_executor(self.settings, self.backend)
        return self._executor

    @executor.setter
    def executor(self, value: Any) -> None:
        self._executor = value

    def __repr__(self) -> str:
        return f"Services(backend={self.settings.backend!r}, executor={self.settings.executor!r})"


def build_services(settings: Settings | None = None) -> Services:
    """Load settings (unless given) and open the storage backend they choose."""
    from .storage import open_backend

    settings = load_settings() if settings is None else settings
    return Services(settings, open_backend(settings))
