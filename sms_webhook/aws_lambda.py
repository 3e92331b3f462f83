"""AWS Lambda entry: API Gateway HTTP API (payload 2.0) requests into the Flask app, plus async SMS jobs.

Template: Handler `sms_webhook.aws_lambda.handler`; the HTTP API sends `POST /twilio/webhook`, `GET /healthz`
and every other path (`$default`: the REST API) here; the function may invoke itself
(lambda:InvokeFunction on its own ARN) for slow SMS answers; see delta3_core/sms/lambda_jobs.py.
apig-wsgi turns events into WSGI requests and responses; a stream (SSE) arrives whole, as API Gateway
HTTP APIs do not stream.
"""

from __future__ import annotations

from apig_wsgi import make_lambda_handler

from delta3_core.sms.lambda_jobs import JOB_KEY, make_defer, run_job

# Answers with these types go out as text; everything else (downloads, zips) base64-encoded, as API Gateway needs.
TEXT_TYPES = ("text/", "application/xml", "application/json", "application/problem+json")
_app = None
_http = None


def _get_app():
    """The app and its API Gateway adapter, built once per warm container (connections are reused)."""
    global _app, _http
    if _app is None:
        from delta3_core.config import load_settings
        from delta3_core.services import build_services

        from . import create_app

        services = build_services(load_settings())
        _app = create_app(services=services, defer=make_defer(services))
        _http = make_lambda_handler(_app, binary_support=True, non_binary_content_type_prefixes=TEXT_TYPES)
    return _app


def handler(event: dict, context=None) -> dict:
    """Lambda handler: an async SMS job from our own webhook, or an HTTP request from API Gateway."""
    app = _get_app()
    if JOB_KEY in event:
        time_left_s = context.get_remaining_time_in_millis() / 1000 if context is not None else None
        return run_job(app.extensions["delta3_sms"], event, time_left_s)
    return _http(without_stage(event), context)


def without_stage(event: dict) -> dict:
    """The event with a named stage's prefix taken off the path (the app's routes do not know the stage)."""
    stage = (event.get("requestContext") or {}).get("stage") or "$default"
    path = event.get("rawPath") or ""
    if stage != "$default" and path.startswith(f"/{stage}/"):
        return {**event, "rawPath": path[len(stage) + 1:]}
    return event


def call_wsgi(app, event: dict, context=None) -> dict:
    """Run one API Gateway HTTP API v2 event through a WSGI app (tests, and any app other than ours)."""
    http = make_lambda_handler(app, binary_support=True, non_binary_content_type_prefixes=TEXT_TYPES)
    return http(without_stage(event), context)
