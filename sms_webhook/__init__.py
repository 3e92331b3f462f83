"""The SMS webhook: a Flask app factory; all logic lives in delta3_core.sms."""

from __future__ import annotations

from flask import Flask

from delta3_core.config import Settings, load_settings
from delta3_core.errors import ConfigError
from delta3_core.services import Services, build_services
from delta3_core.sms.channel import SmsChannel

REQUIRED = (("public_url", "DELTA3_PUBLIC_URL"), ("twilio_auth_token", "TWILIO_AUTH_TOKEN"),
            ("twilio_account_sid", "TWILIO_ACCOUNT_SID"))
MAX_REQUEST_BYTES = 64 * 1024  # Twilio's form is a few KB; anything far bigger is not Twilio


def check_settings(settings: Settings) -> None:
    """Refuse to start without what the signature check and late replies need."""
    for attr, env in REQUIRED:
        if not getattr(settings, attr):
            raise ConfigError(f"{env} must be set to run the SMS webhook.")


def create_app(settings: Settings | None = None, services: Services | None = None, **channel_options) -> Flask:
    """Build the webhook app; ConfigError names a missing setting. `channel_options` go to SmsChannel."""
    settings = services.settings if services is not None else (settings or load_settings())
    check_settings(settings)
    services = services or build_services(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.extensions["delta3_sms"] = SmsChannel(services, **channel_options)

    from .views import bp

    app.register_blueprint(bp)
    return app
