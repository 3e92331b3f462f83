"""The webhook as deployed: `python -m sms_webhook` under waitress, and the AWS Lambda entry."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from delta3_core import accounts, keys
from delta3_core.sms.lambda_jobs import JOB_KEY, make_defer, run_job, wait_turn
from sms_webhook import create_app
from sms_webhook.aws_lambda import call_wsgi
from tests.fixtures.gemini import gemini_text
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sms_webhook", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=_server_env(tmp_path, fake_twilio), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("server did not start: " + proc.stdout.read().decode())
            time.sleep(0.1)
    yield base
    proc.terminate()
    proc.wait(10)


def test_real_server_answers_signed_sms_and_refuses_unsigned(live_server):
    form = inbound_form(f"REGISTER zoe@example.com {'correct-horse-battery'}")
    status, body = _post(live_server + "/twilio/webhook", form, sign(form))
    assert status == 200
    assert "Account created" in twiml_messages(body)[0]
    status, _ = _post(live_server + "/twilio/webhook", inbound_form("HELP"), "forged")
    assert status == 403


def test_server_without_twilio_settings_serves_the_api_and_names_the_missing_setting(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DELTA3_", "TWILIO_"))}
    env.update({"DELTA3_DATA_DIR": str(tmp_path), "DELTA3_SECRET_KEY": TEST_SECRET, "PYTHONPATH": str(ROOT)})
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sms_webhook", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("server did not start: " + proc.stdout.read().decode())
                time.sleep(0.1)
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
        assert len(invoked) == 1 and invoked[0][JOB_KEY]["body"] == "write hello world"
        fake_gemini.enqueue(gemini_text("print('hello world')"))
        assert run_job(app.extensions["delta3_sms"], invoked[0])["ok"]
        sent = fake_twilio.wait_for(1)
        assert sent[0]["to"] == PHONE and "hello world" in sent[0]["body"]
    finally:
        app.extensions["delta3_sms"].close()


def test_lambda_jobs_of_one_phone_wait_their_turn(settings):
    from delta3_core.storage import open_backend

    records = open_backend(settings).records
    assert wait_turn(records, PHONE, 1, max_wait_s=0)
    assert not wait_turn(records, PHONE, 2, max_wait_s=0.2, poll_s=0.05)  # message 1 is not done yet
    records.put_value(f"sms:done:{PHONE}", "1", 60)
    assert wait_turn(records, PHONE, 2, max_wait_s=0)


def test_lambda_that_cannot_hand_a_chat_on_tells_the_sender_to_send_it_again(sms_settings):
    from delta3_core.services import build_services

    def invoke_fails(_payload):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Invoke")

    services = build_services(sms_settings)
    app = create_app(services=services, defer=make_defer(services, invoke=invoke_fails))
    try:
        user = accounts.register(services.backend, "lambda@example.com", "correct-horse-battery")
        accounts.link_phone(services.backend, user.user_id, PHONE)
        form = inbound_form("write hello world")
        response = call_wsgi(app, _http_api_event(form, sign(form)))
        assert response["statusCode"] == 200
        assert "send it again" in twiml_messages(response["body"])[0]
    finally:
        app.extensions["delta3_sms"].close()


def test_a_lambda_job_whose_earlier_message_was_lost_still_answers_before_the_invocation_ends(
        sms_settings, fake_twilio, fake_gemini, monkeypatch):
    """Message 1 of the phone never finished (its invocation timed out): message 2 must not wait past its own end."""
    import threading
    from types import SimpleNamespace

    from sms_webhook import aws_lambda

    invoked = []
    from delta3_core.services import build_services

    services = build_services(sms_settings)
    app = create_app(services=services, defer=make_defer(services, invoke=invoked.append))
    monkeypatch.setattr(aws_lambda, "_app", app)
    user = accounts.register(services.backend, "late@example.com", "correct-horse-battery")
    accounts.link_phone(services.backend, user.user_id, PHONE)
    keys.set_gemini_key(services.backend, user.user_id, "AIza-lambda-test-key-000000000000")
    for body in ("first question", "second question"):
        form = inbound_form(body)
        call_wsgi(app, _http_api_event(form, sign(form)))
    fake_gemini.enqueue(gemini_text("second answer"))
    context = SimpleNamespace(get_remaining_time_in_millis=lambda: 2000)  # 2 s left of this invocation
    job = threading.Thread(target=aws_lambda.handler, args=(invoked[1], context), daemon=True)
    job.start()
    job.join(timeout=30)
    try:
        assert not job.is_alive()  # it gave up waiting for message 1 in time to answer
        assert fake_twilio.wait_for(1)[0]["body"] == "second answer"
    finally:
        app.extensions["delta3_sms"].close()


def test_a_slow_earlier_job_finishing_last_does_not_hold_back_later_messages(sms_settings, fake_twilio, fake_gemini):
    """Message 3 gave up waiting and finished first; when message 2 ends, message 4 must still find 3 done."""
    from delta3_core.services import build_services

    services = build_services(sms_settings)
    channel = create_app(services=services).extensions["delta3_sms"]
    try:
        records = services.backend.records
        records.put_value(f"sms:done:{PHONE}", "3", 60)
        fake_gemini.enqueue(gemini_text("late answer"))
        job = {JOB_KEY: {"sid": "SM-late", "phone": PHONE, "to": "", "body": "question two"}, "seq": 2}
        assert run_job(channel, job, max_wait_s=0)["ok"]
        assert wait_turn(records, PHONE, 4, max_wait_s=0)
    finally:
        channel.close()
