"""Settings: one typed object, read once from the environment (and st.secrets), passed down."""

from __future__ import annotations

import math
import os
import secrets as _secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_MODEL = "gemini-2.5-flash"
MIN_SECRET_LENGTH = 32
# Values copied from tutorials and templates; a deployment using one has no secret at all.
KNOWN_DEFAULT_SECRETS = frozenset(
    {"changeme", "change-me", "secret", "some_signature_key", "abcdef", "random_signature_key",
     "your-secret-key", "dev", "development", "replace-me", "xxxxxxxx"}
)
SECRET_FILE_NAME = "secret_key"


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}.")


def _int(name: str, raw: str, minimum: int = 1) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}.")
    return value


def _float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}.") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, not {raw!r}.")
    if value <= 0:
        raise ConfigError(f"{name} must be positive, not {raw!r}.")
    return value


def _choice(name: str, raw: str, choices: tuple[str, ...]) -> str:
    value = raw.strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {raw!r}.")
    return value


def _text(_name: str, raw: str) -> str:
    return raw.strip()


def _csv(_name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _path(_name: str, raw: str) -> Path:
    return Path(raw).expanduser()


def _setting(env: str, parse=_text, default: Any = None, **extra: Any):
    """Declare a field read from environment variable `env` and parsed by `parse`."""
    return field(default=default, metadata={"env": env, "parse": parse, **extra})


@dataclass(frozen=True)
class Settings:
    """Every setting of DELTA3; build it with `load_settings()`."""

    backend: str = _setting("DELTA3_BACKEND", lambda n, r: _choice(n, r, ("local", "aws")), "local")
    data_dir: Path = _setting("DELTA3_DATA_DIR", _path, Path.home() / ".delta3")
    executor: str = _setting("DELTA3_EXECUTOR", lambda n, r: _choice(n, r, ("local", "lambda")), "local")
    executor_function: str | None = _setting("DELTA3_EXECUTOR_FUNCTION")
    executor_role_arn: str | None = _setting("DELTA3_EXECUTOR_ROLE_ARN")
    bucket: str | None = _setting("DELTA3_BUCKET")
    table: str | None = _setting("DELTA3_TABLE")
    kms_key_id: str | None = _setting("DELTA3_KMS_KEY_ID")
    secret_key: str | None = _setting("DELTA3_SECRET_KEY", secret=True)
    # Previous master secrets, comma-separated: still decrypt stored keys until they are rotated.
    old_secret_keys: tuple[str, ...] = _setting("DELTA3_OLD_SECRET_KEYS", _csv, (), secret=True)
    model: str = _setting("DELTA3_MODEL", default=DEFAULT_MODEL)
    public_url: str | None = _setting("DELTA3_PUBLIC_URL", lambda n, r: r.strip().rstrip("/"))
    twilio_account_sid: str | None = _setting("TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = _setting("TWILIO_AUTH_TOKEN", secret=True)
    twilio_phone_number: str | None = _setting("TWILIO_PHONE_NUMBER")
    twilio_api_base_url: str | None = _setting("TWILIO_API_BASE_URL", lambda n, r: r.strip().rstrip("/"))
    # Workspace and agent
    quota_mb: int = _setting("DELTA3_QUOTA_MB", _int, 200)
    max_tool_steps: int = _setting("DELTA3_MAX_TOOL_STEPS", _int, 12)
    model_timeout_s: float = _setting("DELTA3_MODEL_TIMEOUT", _float, 60.0)
    # Executor limits
    sandbox_network: bool = _setting("DELTA3_SANDBOX_NETWORK", _bool, False)
    unsafe_no_sandbox: bool = _setting("DELTA3_UNSAFE_NO_SANDBOX", _bool, False)
    run_wall_s: float = _setting("DELTA3_RUN_WALL_SECONDS", _float, 30.0)
    run_memory_mb: int = _setting("DELTA3_RUN_MEMORY_MB", _int, 512)
    run_processes: int = _setting("DELTA3_RUN_PROCESSES", _int, 64)
    run_file_mb: int = _setting("DELTA3_RUN_FILE_MB", _int, 50)
    run_output_kb: int = _setting("DELTA3_RUN_OUTPUT_KB", _int, 64)
    # SMS channel
    # Short, so a burst of senders is acknowledged well inside Twilio's 15 s; slower answers go out by the API.
    sms_reply_wait_s: float = _setting("DELTA3_SMS_REPLY_WAIT", _float, 0.5)
    sms_workers: int = _setting("DELTA3_SMS_WORKERS", _int, 8)
    sms_rate_per_phone: int = _setting("DELTA3_SMS_RATE_PER_PHONE", _int, 20)
    sms_rate_global: int = _setting("DELTA3_SMS_RATE_GLOBAL", _int, 600)
    # REST API
    api_cors_origins: tuple[str, ...] = _setting("DELTA3_API_CORS_ORIGINS", _csv, ())
    api_rate_per_token: int = _setting("DELTA3_API_RATE_PER_TOKEN", _int, 120)
    api_rate_per_account: int = _setting("DELTA3_API_RATE_PER_ACCOUNT", _int, 300)
    api_rate_per_source: int = _setting("DELTA3_API_RATE_PER_SOURCE", _int, 60)

    @property
    def quota_bytes(self) -> int:
        """The per-user workspace quota in bytes."""
        return self.quota_mb * 1024 * 1024

    @property
    def twilio_configured(self) -> bool:
        """True when Twilio credentials are set, so SMS can be sent."""
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_phone_number)

    def __repr__(self) -> str:  # secrets never reach logs or tracebacks
        shown = {f.name: ("***" if f.metadata.get("secret") and getattr(self, f.name) else getattr(self, f.name))
                 for f in fields(self)}
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


def _secrets_lookup(secrets: Mapping[str, Any] | None, name: str) -> str | None:
    if secrets is None:
        return None
    try:
        value = secrets.get(name)
    except Exception:  # st.secrets raises when no secrets.toml exists at all
        return None
    return None if value is None else str(value)


def load_settings(environ: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None,
                  **overrides: Any) -> Settings:
    """Build Settings from `environ` (default os.environ), then `secrets` for what it leaves unset."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        name = f.metadata["env"]
        raw = environ.get(name)
        if raw is None or raw == "":
            raw = _secrets_lookup(secrets, name)
        if raw is not None and raw != "":
            values[f.name] = f.metadata["parse"](name, raw)
    values.update(overrides)
    settings = Settings(**values)
    _check_required(settings)
    return _with_secret_key(settings)


def _check_required(settings: Settings) -> None:
    if settings.backend == "aws":
        for attr, env in (("bucket", "DELTA3_BUCKET"), ("table", "DELTA3_TABLE"),
                          ("kms_key_id", "DELTA3_KMS_KEY_ID"), ("secret_key", "DELTA3_SECRET_KEY")):
            if not getattr(settings, attr):
                raise ConfigError(f"{env} must be set when DELTA3_BACKEND=aws.")
    if settings.executor == "lambda" and not settings.executor_function:
        raise ConfigError("DELTA3_EXECUTOR_FUNCTION must be set when DELTA3_EXECUTOR=lambda.")
    if settings.executor == "lambda" and settings.backend != "aws":
        raise ConfigError("DELTA3_EXECUTOR=lambda needs DELTA3_BACKEND=aws (the executor reads files from S3).")


def check_secret_key(value: str) -> str:
    """Return `value` if it is a usable master secret, else raise ConfigError."""
    if value.strip().lower() in KNOWN_DEFAULT_SECRETS:
        raise ConfigError("DELTA3_SECRET_KEY is a well-known default; set a random value "
                          "(python -c 'import secrets; print(secrets.token_urlsafe(48))').")
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(f"DELTA3_SECRET_KEY is too short: use at least {MIN_SECRET_LENGTH} random characters.")
    return value


def _with_secret_key(settings: Settings) -> Settings:
    """Validate the master secret; in local mode create one in the data dir on first run."""
    from dataclasses import replace

    if settings.secret_key:
        check_secret_key(settings.secret_key)
        return settings
    path = settings.data_dir / SECRET_FILE_NAME
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _create_secret_file(path)
    value = path.read_text().strip()
    if not value:
        raise ConfigError(f"{path} is empty; delete it to generate a new DELTA3_SECRET_KEY.")
    return replace(settings, secret_key=check_secret_key(value))


def _create_secret_file(path: Path) -> None:
    """Write a new random secret to `path` unless it exists; never let anyone read a half-written file."""
    tmp = path.with_name(f".{path.name}.{_secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(_secrets.token_urlsafe(48))
            out.flush()
            os.fsync(out.fileno())
        try:  # link is atomic and fails if it exists: two processes starting at once agree on one secret
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: fall back to a plain (still whole-file) rename
            if not path.exists():
                os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
