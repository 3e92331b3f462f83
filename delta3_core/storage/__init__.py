"""Storage: protocols in base.py, the local and AWS backends, and `open_backend(settings)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError
from .base import Backend

if TYPE_CHECKING:
    from delta3_core.config import Settings


def open_backend(settings: Settings) -> Backend:
    """Build the backend chosen by settings.backend ('local' or 'aws')."""
    if not settings.secret_key:
        raise ConfigError("DELTA3_SECRET_KEY must be set (load settings with load_settings()).")
    if settings.backend == "local":
        from .local import open_local

        return open_local(settings)
    if settings.backend == "aws":
        from .aws import open_aws

        return open_aws(settings)
    raise ConfigError(f"DELTA3_BACKEND must be one of local, aws, not {settings.backend!r}.")
