"""The HTTP service: a Flask app factory for the Twilio webhook and the REST API (logic in delta3_core)."""

from __future__ import annotations

from flask import Flask

from delta3_core.config import Settings, load_settings
from delta3_core.services import Services, build_services
from delta3_core.sms.channel import SmsChannel

REQUIRED = (("public_url", "DELTA3_PUBLIC_URL"), ("twilio_auth_token", "TWILIO_AUTH_TOKEN"),
            ("twilio_account_sid", "TWILIO_ACCOUNT_SID"))


def missing_sms_setting(settings: Settings) -> str | None:
    """The first setting the webhook needs (signature check, late replies) that is unset, or None."""
    return next((env for attr, env in REQUIRED if not getattr(settings, attr)), None)


def create_app(settings: Settings | None = None, services: Services | None = None, **channel_options) -> Flask:
    """Build the service: the REST API always; the webhook answers 503 naming a missing Twilio setting.

    `channel_options` go to SmsChannel.
    """
    settings = services.settings if services is not None else (settings or load_settings())
    services = services or build_services(settings)
    app = Flask(__name__)
    app.extensions["delta3_sms"] = SmsChannel(services, **channel_options)
    app.config["SMS_MISSING_SETTING"] = missing_sms_setting(settings)

    from .api import register_api
    from .views import bp

    app.register_blueprint(bp)
    register_api(app, services)
    return app
