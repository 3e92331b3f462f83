"""The webhook's routes: Twilio messages, health check, and expiring media links."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator, get_signature_algorithm

from delta3_core.errors import AuthError, NotFoundError, StorageError, ValidationError
from delta3_core.sms.channel import to_twiml
from delta3_core.sms.media_links import read_media

if TYPE_CHECKING:
    from delta3_core.sms.channel import SmsChannel

log = logging.getLogger("delta3.sms")
bp = Blueprint("sms", __name__)
WEBHOOK_PATH = "/twilio/webhook"
MAX_REQUEST_BYTES = 64 * 1024  # Twilio's form is a few KB; anything far bigger is not Twilio


def _channel() -> SmsChannel:
    return current_app.extensions["delta3_sms"]


def _signature_ok() -> bool:
    """Twilio signs the public URL it called, so check against DELTA3_PUBLIC_URL, not the URL behind a proxy."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    settings = _channel().services.settings
    url = settings.public_url + WEBHOOK_PATH
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    algorithm = get_signature_algorithm(request.headers.get("X-Twilio-Webhooks-Signature-Settings"))
    return RequestValidator(settings.twilio_auth_token).validate(url, request.form, signature, algorithm)


@bp.post(WEBHOOK_PATH)
def twilio_webhook():
    """Receive one SMS; answer with TwiML now, or with an empty <Response/> and send the answer later."""
    missing = current_app.config.get("SMS_MISSING_SETTING")
    if missing:
        return Response(f"{missing} must be set to run the SMS webhook.", status=503, mimetype="text/plain")
    request.max_content_length = MAX_REQUEST_BYTES
    if not _signature_ok():
        log.warning("refused a webhook request without a valid Twilio signature")
        abort(403)
    try:
        reply = _channel().handle(request.form)
    except ValidationError as error:
        return Response(str(error), status=400, mimetype="text/plain")
    except StorageError:
        # Nothing was claimed: a 5xx makes Twilio try its fallback URL, or retry (connection overrides).
        log.exception("the store failed while taking an SMS; answering 503 so Twilio delivers it again")
        return Response("The message could not be stored; please retry.", status=503, mimetype="text/plain",
                        headers={"Retry-After": "5"})
    return Response(to_twiml(reply), mimetype="application/xml")


@bp.get("/healthz")
def healthz():
    """Liveness check for load balancers."""
    return Response("ok", mimetype="text/plain")


@bp.get("/media/<token>")
def media(token: str):
    """Serve one workspace image named by a signed, expiring token (Twilio fetches MMS media here)."""
    try:
        data, mimetype = read_media(_channel().services, token)
    except AuthError:
        abort(403)
    except NotFoundError:
        abort(404)
    return Response(data, mimetype=mimetype, headers={"Cache-Control": "private, max-age=300"})
