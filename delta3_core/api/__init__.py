"""The REST API: typed operations over the same core calls as the web and SMS channels.

One small module per noun registers its operations (auth, tokens, files, ...); to add an endpoint,
write a handler in the module of its noun (or a new one listed in NOUNS) with `@operation(...)`.
The HTTP service mounts them all (sms_webhook/api.py); the OpenAPI document comes from the same
declarations (openapi.build_document).
"""

from __future__ import annotations

import importlib

from .framework import OPERATIONS, ApiRequest, Call, Model, Operation, Reply, dispatch, operation
from .problems import Problem

__all__ = ["OPERATIONS", "ApiRequest", "Call", "Model", "Operation", "Problem", "Reply", "dispatch",
           "load_operations", "operation"]

NOUNS = ("auth", "account", "tokens", "files", "transfer", "chat", "turns", "history", "models", "undo")


def load_operations() -> list[Operation]:
    """Import every noun module (each registers its operations once) and return them all."""
    for noun in NOUNS:
        importlib.import_module(f"{__name__}.{noun}")
    return OPERATIONS
