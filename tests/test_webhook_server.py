"""The webhook as deployed: `python -m sms_webhook` under waitress, and the AWS Lambda entry."""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from delta3_core import accounts, keys
from delta3_core.sms.lambda_jobs import JOB_KEY, make_defer, run_job, sweep
from delta3_core.turns.runner import RetryLater
from sms_webhook import create_app
from sms_webhook.aws_lambda import call_wsgi
from tests.fixtures.gemini import gemini_text
from tests.fixtures.service import start_service
from tests.fixtures.storage import TEST_SECRET
from tests.fixtures.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PHONE,
    PUBLIC_URL,
    TWILIO_NUMBER,
    inbound_form,
    sign,
    twiml_messages,
)

ROOT = Path(__file__).resolve().parent.parent


def _server_env(tmp_path, fake_twilio, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DELTA3_", "TWILIO_"))}
    env.update({"DELTA3_DATA_DIR": str(tmp_path), "DELTA3_SECRET_KEY": TEST_SECRET, "DELTA3_PUBLIC_URL": PUBLIC_URL,
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_PHONE_NUMBER": TWILIO_NUMBER, "TWILIO_API_BASE_URL": fake_twilio.base_url,
                "PYTHONPATH": str(ROOT)})
    env.update(extra)
    return env


def _post(url: str, form: dict, signature: str) -> tuple[int, str]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(),
                                     headers={"X-Twilio-Signature": signature})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def live_server(tmp_path, fake_twilio):
    """The webhook started exactly as the README says, on a free port."""
    # REGISTER hashes a password (bcrypt, ~0.5 s on a busy machine): give the inline answer time.
    proc, base = start_service(_server_env(tmp_path, fake_twilio, DELTA3_SMS_REPLY_WAIT="5"))
    yield base
    proc.terminate()
    proc.wait(10)


def test_real_server_answers_signed_sms_and_refuses_unsigned(live_server, fake_twilio):
    form = inbound_form(f"REGISTER zoe@example.com {'correct-horse-battery'}")
    status, body = _post(live_server + "/twilio/webhook", form, sign(form))
    assert status == 200
    # Inline when bcrypt is done within the reply wait; on a busy machine the answer follows by the Messages API.
    answers = twiml_messages(body) or [m["body"] for m in fake_twilio.wait_for(1, timeout=60)]
    assert len(answers) == 1 and "Account created" in answers[0]
    status, _ = _post(live_server + "/twilio/webhook", inbound_form("HELP"), "forged")
    assert status == 403


def test_server_without_twilio_settings_serves_the_api_and_names_the_missing_setting(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DELTA3_", "TWILIO_"))}
    env.update({"DELTA3_DATA_DIR": str(tmp_path), "DELTA3_SECRET_KEY": TEST_SECRET, "PYTHONPATH": str(ROOT)})
    proc, base = start_service(env)
    try:
        status, body = _post(base + "/twilio/webhook", inbound_form("HELP"), "unsigned")
        assert status == 503 and "DELTA3_PUBLIC_URL" in body
        request = urllib.request.Request(base + "/auth/register", method="POST", headers={
            "Content-Type": "application/json"}, data=b'{"email": "zoe@example.com", "password": "Correct-horse-9"}')
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
    finally:
        proc.terminate()
        proc.wait(10)


# ------------------------------------------------------------------ AWS Lambda entry

def _http_api_event(form: dict, signature: str, path: str = "/twilio/webhook", stage: str = "$default") -> dict:
    body = urllib.parse.urlencode(form)
    return {
        "version": "2.0", "routeKey": f"POST {path}", "rawPath": path if stage == "$default" else f"/{stage}{path}",
        "rawQueryString": "", "isBase64Encoded": True, "body": base64.b64encode(body.encode()).decode(),
        "headers": {"content-type": "application/x-www-form-urlencoded", "host": "abc.execute-api.aws",
                    "x-twilio-signature": signature, "x-forwarded-proto": "https"},
        "requestContext": {"stage": stage, "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
                                                    "sourceIp": "54.0.0.1"}},
    }


@pytest.mark.parametrize("stage", ["$default", "prod"])
def test_api_gateway_event_runs_through_the_app(sms_app, stage):
    form = inbound_form("HELP")
    response = call_wsgi(sms_app, _http_api_event(form, sign(form), stage=stage))
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"].startswith("application/xml")
    assert twiml_messages(response["body"])[0].startswith("DELTA3 commands")
    assert call_wsgi(sms_app, _http_api_event(form, "forged", stage=stage))["statusCode"] == 403


def test_lambda_defers_chat_to_async_invocation_and_sends_answer(sms_settings, fake_twilio, fake_gemini):
    invoked = []
    from delta3_core.services import build_services

    services = build_services(sms_settings)
    app = create_app(services=services, defer=make_defer(services, invoke=invoked.append))
    try:
        user = accounts.register(services.backend, "lambda@example.com", "correct-horse-battery")
        accounts.link_phone(services.backend, user.user_id, PHONE)
        keys.set_gemini_key(services.backend, user.user_id, "AIza-lambda-test-key-000000000000")
        form = inbound_form("CLEAR")  # a command: answered within the request, nothing deferred
        response = call_wsgi(app, _http_api_event(form, sign(form)))
        assert "cleared" in twiml_messages(response["body"])[0] and invoked == []
        form = inbound_form("write hello world")
        response = call_wsgi(app, _http_api_event(form, sign(form)))
        assert response["statusCode"] == 200 and twiml_messages(response["body"]) == []
        assert len(invoked) == 1
        assert services.backend.records.get_job(invoked[0][JOB_KEY]).text == "write hello world"
        fake_gemini.enqueue(gemini_text("print('hello world')"))
        assert run_job(app.extensions["delta3_sms"], invoked[0])["ok"]
        sent = fake_twilio.wait_for(1)
        assert sent[0]["to"] == PHONE and "hello world" in sent[0]["body"]
    finally:
        app.extensions["delta3_sms"].close()


def _lambda_app(sms_settings, invoke):
    from delta3_core.services import build_services

    services = build_services(sms_settings)
    app = create_app(services=services, defer=make_defer(services, invoke=invoke))
    user = accounts.register(services.backend, "lambda@example.com", "correct-horse-battery")
    accounts.link_phone(services.backend, user.user_id, PHONE)
    keys.set_gemini_key(services.backend, user.user_id, "AIza-lambda-test-key-000000000000")
    return app, services


def test_lambda_jobs_of_one_phone_wait_their_turn(sms_settings, fake_twilio, fake_gemini):
    invoked = []
    app, _services = _lambda_app(sms_settings, invoked.append)
    channel = app.extensions["delta3_sms"]
    for body in ("first question", "second question"):
        form = inbound_form(body)
        call_wsgi(app, _http_api_event(form, sign(form)))
    first = channel.runner.lease(invoked[0][JOB_KEY])  # message 1's invocation is running it
    with pytest.raises(RetryLater):  # Lambda invokes message 2 again later
        run_job(channel, invoked[1], max_wait_s=0.3, poll_s=0.05)
    assert fake_twilio.messages == []
    fake_gemini.enqueue(gemini_text("first answer"), gemini_text("second answer"))
    channel.runner.run(first)
    assert run_job(channel, invoked[1])["ok"]
    assert [m["body"] for m in fake_twilio.wait_for(2)] == ["first answer", "second answer"]


def test_lambda_that_cannot_invoke_a_worker_keeps_the_job_for_the_sweep(sms_settings, fake_twilio, fake_gemini):
    def invoke_fails(_payload):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Invoke")

    app, services = _lambda_app(sms_settings, invoke_fails)
    form = inbound_form("write hello world")
    response = call_wsgi(app, _http_api_event(form, sign(form)))
    assert response["statusCode"] == 200 and twiml_messages(response["body"]) == []
    assert [j.text for j in services.backend.records.open_jobs()] == ["write hello world"]
    fake_gemini.enqueue(gemini_text("hello world, late but sure"))
    assert sweep(app.extensions["delta3_sms"]) == 1  # the scheduled sweep's invocation
    assert fake_twilio.wait_for(1)[0]["body"] == "hello world, late but sure"
    assert services.backend.records.open_jobs() == []


def test_a_lambda_job_runs_the_earlier_message_whose_invocation_died_first(sms_settings, fake_twilio, fake_gemini,
                                                                          monkeypatch):
    """Message 1's invocation died holding the job: once its lease runs out, message 2's invocation
    answers message 1 (its model never started: run afresh), then its own, in order."""
    import threading
    from types import SimpleNamespace

    from sms_webhook import aws_lambda

    invoked = []
    app, services = _lambda_app(sms_settings, invoked.append)
    monkeypatch.setattr(aws_lambda, "_app", app)
    for body in ("first question", "second question"):
        form = inbound_form(body)
        call_wsgi(app, _http_api_event(form, sign(form)))
    records = services.backend.records
    assert records.lease_job(records.get_job(invoked[0][JOB_KEY]), "dead-worker", 0.3) is not None
    fake_gemini.enqueue(gemini_text("first answer"), gemini_text("second answer"))
    context = SimpleNamespace(get_remaining_time_in_millis=lambda: 20_000)
    job = threading.Thread(target=aws_lambda.handler, args=(invoked[1], context), daemon=True)
    job.start()
    job.join(timeout=30)
    assert not job.is_alive()
    assert [m["body"] for m in fake_twilio.wait_for(2)] == ["first answer", "second answer"]
    assert records.get_job(invoked[0][JOB_KEY]).attempts == 2
