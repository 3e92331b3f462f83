"""AWS Lambda entry: API Gateway HTTP API (payload format 2.0) events into the Flask app, plus async jobs.

Template: Handler `sms_webhook.aws_lambda.handler`, an HTTP API route `POST /twilio/webhook`
(and `GET /healthz`, `GET /media/{token}`), and permission for the function to invoke itself
(lambda:InvokeFunction on its own ARN) for slow answers, and a schedule that sends
{"delta3_turn_sweep": true}; see delta3_core/sms/lambda_jobs.py.
"""

from __future__ import annotations

import base64
import io
import sys
from urllib.parse import quote

from delta3_core.sms.lambda_jobs import JOB_KEY, SWEEP_KEY, make_defer, run_job, sweep

_TEXT_TYPES = ("text/", "application/xml", "application/json")
_app = None


def _get_app():
    """The app, built once per warm container (settings and store connections are reused)."""
    global _app
    if _app is None:
        from delta3_core.config import load_settings
        from delta3_core.services import build_services

        from . import create_app

        services = build_services(load_settings())
        _app = create_app(services=services, defer=make_defer(services))
    return _app


def handler(event: dict, context=None) -> dict:
    """Lambda handler: an async SMS job from our own webhook, the scheduled sweep, or an HTTP request."""
    app = _get_app()
    time_left_s = context.get_remaining_time_in_millis() / 1000 if context is not None else None
    if JOB_KEY in event:
        return run_job(app.extensions["delta3_sms"], event, time_left_s)
    if SWEEP_KEY in event:
        return {"ok": True, "swept": sweep(app.extensions["delta3_sms"], time_left_s)}
    return call_wsgi(app, event)


def build_environ(event: dict) -> dict:
    """A WSGI environ for an API Gateway HTTP API v2 event."""
    http = event["requestContext"]["http"]
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    body = event.get("body") or ""
    data = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    path = event.get("rawPath") or http.get("path") or "/"
    stage = event["requestContext"].get("stage") or "$default"
    if stage != "$default" and path.startswith(f"/{stage}/"):
        path = path[len(stage) + 1:]  # a named stage prefixes the path; the app's routes do not know it
    environ = {
        "REQUEST_METHOD": http["method"], "SCRIPT_NAME": "", "PATH_INFO": quote(path, safe="/:@&=+$,;~-._!*'()"),
        "QUERY_STRING": event.get("rawQueryString") or "", "SERVER_NAME": headers.get("host", "lambda"),
        "SERVER_PORT": headers.get("x-forwarded-port", "443"), "SERVER_PROTOCOL": http.get("protocol", "HTTP/1.1"),
        "REMOTE_ADDR": http.get("sourceIp", ""), "CONTENT_LENGTH": str(len(data)),
        "CONTENT_TYPE": headers.get("content-type", ""), "wsgi.version": (1, 0),
        "wsgi.url_scheme": headers.get("x-forwarded-proto", "https"), "wsgi.input": io.BytesIO(data),
        "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    if event.get("cookies"):
        headers["cookie"] = "; ".join(event["cookies"])
    for name, value in headers.items():
        if name not in ("content-type", "content-length"):
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def call_wsgi(app, event: dict) -> dict:
    """Run one API Gateway HTTP API v2 event through a WSGI app and return the v2 response."""
    started: dict = {}

    def start_response(status, response_headers, exc_info=None):
        started["status"], started["headers"] = status, response_headers

    chunks = app(build_environ(event), start_response)
    try:
        data = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    headers: dict[str, str] = {}
    cookies = []
    for name, value in started["headers"]:
        if name.lower() == "set-cookie":
            cookies.append(value)
        else:
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    content_type = headers.get("Content-Type", "")
    is_text = content_type.startswith(_TEXT_TYPES)
    response = {"statusCode": int(started["status"].split()[0]), "headers": headers,
                "body": data.decode("utf-8") if is_text else base64.b64encode(data).decode(),
                "isBase64Encoded": not is_text}
    if cookies:
        response["cookies"] = cookies
    return response
