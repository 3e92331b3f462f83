"""Which Gemini models a user can pick: the live list from their key (cached), the default, the thinking level."""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import accounts, keys, store_keys
from ..errors import Delta3Error, ModelError, NotFoundError, ValidationError
from ..storage.base import UserRecord
from . import model as _model

if TYPE_CHECKING:
    from delta3_core.config import Settings
    from delta3_core.services import Services

log = logging.getLogger(__name__)

CACHE_TTL_S = 3600  # Google adds and retires models over months; an hour keeps menus fresh at one call an hour
FAILED_TTL_S = 60  # after a failed list call, the built-in list serves for a minute before we ask again
LIST_TIMEOUT_S = 10.0  # the list is a small answer; a turn should not wait long for it
THINKING_LEVELS = ("minimal", "low", "medium", "high")
_GONE_DEFAULTS: set[str] = set()  # defaults that answered 404 in this process (the operator's DELTA3_MODEL retired)


class ModelInfo(NamedTuple):
    """One model a user can pick: its API name and the name people read."""

    name: str
    display_name: str


# Used when models.list cannot be called (no key yet, Google unreachable): today's stable chat models.
FALLBACK = (ModelInfo("gemini-3.8-flash", "Gemini 3.8 Flash"), ModelInfo("gemini-3.7-flash", "Gemini 3.7 Flash"),
            ModelInfo("gemini-3.6-flash", "Gemini 3.6 Flash"), ModelInfo("gemini-3.5-flash", "Gemini 3.5 Flash"),
            ModelInfo("gemini-3.5-flash-lite", "Gemini 3.5 Flash-Lite"),
            ModelInfo("gemini-3.1-flash-lite", "Gemini 3.1 Flash-Lite"),
            ModelInfo("gemini-3.1-pro-preview", "Gemini 3.1 Pro Preview"),
            ModelInfo("gemini-flash-latest", "Gemini Flash Latest"))


@dataclass
class ModelList:
    """The models a user's key can use for chat, the default among them, and which accept a thinking level."""

    models: list[ModelInfo]
    default: str
    live: bool = False  # True when the list came from Google for this key, not from FALLBACK
    thinking: frozenset[str] = field(default_factory=frozenset)

    @property
    def names(self) -> list[str]:
        """The model names, default first."""
        return [m.name for m in self.models]

    def find(self, name: str | None) -> str | None:
        """The listed name matching `name` (any case, with or without 'models/'), or None."""
        wanted = (name or "").strip().removeprefix("models/").lower()
        return next((m.name for m in self.models if m.name.lower() == wanted), None)

    def display(self, name: str) -> str:
        """The display name of `name` (the name itself when unknown)."""
        return next((m.display_name for m in self.models if m.name == name), name)

    def as_dict(self) -> dict[str, Any]:
        """The API's shape: {models: [{name, display_name}], default}."""
        return {"models": [{"name": m.name, "display_name": m.display_name} for m in self.models],
                "default": self.default}


def list_models(services: Services, user_id: str) -> ModelList:
    """The chat models this user's key can use (models.list, cached per user), or the built-in list."""
    user = _user(services, user_id)
    api_key = keys.gemini_key_of(services.backend, user)
    if not api_key:
        return list_models_without_key(services.settings)
    cache_key = store_keys.models_cache(user_id, api_key)
    cached = _read_cache(services, cache_key)
    if cached is not None:
        return _assemble(services.settings.model, cached["models"], live=cached["live"])
    timeout = min(services.settings.model_timeout_s, LIST_TIMEOUT_S)
    try:
        found, live, ttl = _model.fetch_models(api_key, timeout), True, CACHE_TTL_S
    except ModelError as exc:
        log.info("models.list failed for user %s (%s); using the built-in list", user_id, exc.kind)
        found, live, ttl = [(m.name, m.display_name, True) for m in FALLBACK], False, FAILED_TTL_S
    chat = [m for m in found if _is_chat_model(m[0])]
    _write_cache(services, cache_key, {"models": chat, "live": live}, ttl)
    return _assemble(services.settings.model, chat, live=live)


def list_models_without_key(settings: Settings) -> ModelList:
    """The built-in list, for a user without a (readable) key."""
    return _assemble(settings.model, [(m.name, m.display_name, True) for m in FALLBACK], live=False)


def choose_model(services: Services, user_id: str, name: str | None) -> UserRecord:
    """Set the user's model to one their key can use; '' or None (or 'default') follows the server default.

    ValidationError, naming the usable models, for any other name.
    """
    wanted = (name or "").strip()
    if not wanted or wanted.lower() == "default":
        return accounts.set_model(services.backend, user_id, None)
    available = list_models(services, user_id)
    found = available.find(wanted)
    if found is None:
        raise ValidationError(f"{wanted} is not a model your Gemini key can use. Available: "
                              f"{', '.join(available.names)}.")
    # The default is stored as "none chosen", so the user follows the server's default when it moves on.
    return accounts.set_model(services.backend, user_id, None if found == available.default else found)


def check_thinking(level: str | None) -> str:
    """The thinking level as stored ('' for the model's own default); ValidationError for anything else."""
    wanted = (level or "").strip().lower()
    if wanted in ("", "default"):
        return ""
    if wanted not in THINKING_LEVELS:
        raise ValidationError(f"The thinking level must be one of {', '.join(THINKING_LEVELS)} (or default).")
    return wanted


def choose_thinking(services: Services, user_id: str, level: str | None) -> UserRecord:
    """Set how hard the model thinks (minimal, low, medium, high); '' or None (or 'default') is the model's own."""
    wanted = check_thinking(level)
    user = _user(services, user_id)
    prefs = {k: v for k, v in (user.prefs or {}).items() if k != "thinking"}
    if wanted:
        prefs["thinking"] = wanted
    return services.backend.records.update_user(user_id, prefs=prefs)


def thinking_of(user: UserRecord | None) -> str | None:
    """The user's chosen thinking level, or None for the model's own default."""
    level = ((user.prefs if user else None) or {}).get("thinking")
    return level if level in THINKING_LEVELS else None


@dataclass
class TurnModel:
    """The model a turn uses, its thinking level (None: the model's default), and a note for the user, if any."""

    name: str
    thinking: str | None = None
    supports_thinking: bool = True
    notice: str = ""


def model_for_turn(services: Services, user: UserRecord) -> TurnModel:
    """The model for the user's next turn; a saved model that Google no longer lists moves them to the default."""
    default = services.settings.model
    if not user.model and default not in _GONE_DEFAULTS:  # the common case: no list lookup at all
        return TurnModel(default, thinking_of(user), _thinks(default))
    try:
        available = list_models(services, user.user_id)
    except Delta3Error as exc:  # the store or the key: the turn itself will say what is wrong
        log.info("no model list for user %s: %s", user.user_id, exc)
        name = user.model or default
        return TurnModel(name, thinking_of(user), _thinks(name))
    chosen, notice = user.model or available.default, ""
    if user.model and available.live and available.find(user.model) is None:
        chosen, notice = available.default, retired_notice(user.model, available.default)
        accounts.set_model(services.backend, user.user_id, None)  # told once: next time there is nothing to move
    name = available.find(chosen) or chosen
    thinks = name in available.thinking if name in available.names else _thinks(name)
    return TurnModel(name, thinking_of(user), thinks, notice)


def replacement_for(services: Services, user_id: str, gone: str) -> tuple[str | None, str]:
    """After `gone` answered 404: what to use instead, and a note for the user if it was their own choice.

    Their choice is cleared, so they are told once. A default that answers 404 is remembered by this
    process, so later turns go straight to a listed model instead of asking the retired one again.
    """
    user = _user(services, user_id)
    api_key = keys.gemini_key_of(services.backend, user)
    if api_key:
        with contextlib.suppress(Delta3Error):
            services.backend.records.delete_value(store_keys.models_cache(user_id, api_key))
    chosen = user.model == gone
    if chosen:
        accounts.set_model(services.backend, user_id, None)
    else:
        log.warning("the default model %s answered 404: set DELTA3_MODEL to a current model", gone)
        _GONE_DEFAULTS.add(gone)
    available = list_models(services, user_id)
    others = [name for name in [available.default, *available.names] if name != gone]
    if not others:
        return None, ""
    return others[0], retired_notice(gone, others[0]) if chosen else ""


def retired_notice(gone: str, now: str) -> str:
    """The one-time note to a user whose model was retired."""
    return f"(The model {gone} is no longer available, so you are now on {now}.)\n\n"


def _assemble(default: str, found: list[Any], live: bool) -> ModelList:
    """A ModelList with the default first; a default Google no longer lists gives way to the best listed one."""
    models = [ModelInfo(name, display) for name, display, _ in found]
    names = [m.name for m in models]
    if default not in names:
        if live and models:
            default = next((m.name for m in FALLBACK if m.name in names), names[0])
        else:
            models.insert(0, ModelInfo(default, default))
    models.sort(key=lambda m: m.name != default)  # stable: the rest keep Google's order
    thinking = frozenset(name for name, _, thinks in found if thinks) | ({default} if default not in names else set())
    return ModelList(models, default, live, frozenset(thinking))


# Names of models that answer generateContent but cannot hold a coding chat with tools.
_NOT_CHAT = ("-tts", "-image", "-live", "embedding", "imagen", "veo", "-audio", "transcribe", "translate", "aqa",
             "robotics", "computer-use", "learnlm")


def _thinks(name: str) -> bool:
    """Whether a model accepts thinking settings, judged by its name (Gemini 2.5 and later, and the aliases)."""
    return name in {m.name for m in FALLBACK} or name.startswith(("gemini-3", "gemini-2.5")) or name.endswith(
        "-latest")


def _is_chat_model(name: str) -> bool:
    return name.startswith("gemini") and not any(marker in name for marker in _NOT_CHAT)


def _user(services: Services, user_id: str) -> UserRecord:
    user = services.backend.records.get_user(user_id)
    if user is None:
        raise NotFoundError("Your account could not be found; please log in again.")
    return user


def _read_cache(services: Services, key: str) -> dict[str, Any] | None:
    try:
        raw = services.backend.records.get_value(key)
        data = json.loads(raw) if raw else None
    except (Delta3Error, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        return None
    return {"models": [tuple(m) for m in data["models"] if isinstance(m, list) and len(m) == 3],
            "live": bool(data.get("live"))}


def _write_cache(services: Services, key: str, data: dict[str, Any], ttl: int) -> None:
    try:
        services.backend.records.put_value(key, json.dumps(data), ttl)
    except Delta3Error as exc:  # the list is still right; the next call just asks Google again
        log.info("could not cache the model list: %s", exc)
