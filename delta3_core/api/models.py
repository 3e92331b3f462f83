"""/models: the Gemini models the caller's own key can use (the live list, cached), and the default."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..agent import models
from .framework import Call, operation


class ModelInfo(BaseModel):
    name: str = Field(description="the API name, e.g. gemini-3.8-flash: send it as `model` to PATCH /auth/me")
    display_name: str = Field(description="the name people read, e.g. Gemini 3.8 Flash")


class ModelChoices(BaseModel):
    models: list[ModelInfo] = Field(description="the default first, then the others Google lists for this key")
    default: str = Field(description="the model used when the account has not chosen one")


@operation("GET", "/models", summary="Models your key can use", tag="models", response=ModelChoices)
def list_models(call: Call) -> ModelChoices:
    """The chat models your Gemini key can use (Google's list, cached an hour; a built-in list without a key)."""
    return ModelChoices(**models.list_models(call.services, call.user_id).as_dict())
