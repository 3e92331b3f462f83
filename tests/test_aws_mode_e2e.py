"""AWS mode end to end on moto's real HTTP server: bootstrap-aws, SMS webhook, core, executor, web chat."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.parse
import uuid
from pathlib import Path

import boto3
import pytest

from delta3_core import accounts, history, keys
from delta3_core.config import load_settings
from delta3_core.executor import make_executor
from delta3_core.executor.lambda_client import InProcessInvoker
from delta3_core.services import build_services
from delta3_core.sms.lambda_jobs import JOB_KEY, make_defer, run_job
from delta3_core.workspace import Workspace
from sms_webhook import create_app
from sms_webhook.aws_lambda import call_wsgi
from tests.fixtures.gemini import gemini_call, gemini_calls, gemini_text
from tests.fixtures.storage import TEST_SECRET, set_fake_aws_env
from tests.fixtures.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PHONE,
    PUBLIC_URL,
    TWILIO_NUMBER,
    Texter,
    inbound_form,
    sign,
    twiml_messages,
)

ROOT = Path(__file__).resolve().parent.parent
GEMINI_KEY = "AIzaSyE2E-0123456789abcdefghijklmn"
PASSWORD = "correct-horse-battery"
TRUST = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", ' \
        '"Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}'
SCRIPT = "from greet import greet\nprint(greet('AWS'))\nopen('result.txt', 'w').write('ran in the executor')\n"


@pytest.fixture
def aws_mode(web_env, monkeypatch, moto_server, fake_twilio, fake_gemini, lambda_tmp):
    """This process in AWS mode on resources made by `python -m delta3_core bootstrap-aws` in moto's server."""
    set_fake_aws_env(monkeypatch, endpoint_url=moto_server)
    name = f"e2e{uuid.uuid4().hex[:10]}"
    done = subprocess.run([sys.executable, "-m", "delta3_core", "bootstrap-aws", "--name", name], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    printed = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert printed["DELTA3_BACKEND"] == "aws" and printed["DELTA3_TABLE"] == name
    for env_name, value in {**printed, "DELTA3_SECRET_KEY": TEST_SECRET, "DELTA3_EXECUTOR": "lambda",
                            "DELTA3_EXECUTOR_FUNCTION": f"{name}-executor", "DELTA3_PUBLIC_URL": PUBLIC_URL,
                            "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                            "TWILIO_PHONE_NUMBER": TWILIO_NUMBER, "TWILIO_API_BASE_URL": fake_twilio.base_url,
                            }.items():
        monkeypatch.setenv(env_name, value)
    # The role the template makes for minting one user's run credentials (WorkspaceAccessRole).
    role = boto3.client("iam").create_role(RoleName=f"{name}-workspaces", AssumeRolePolicyDocument=TRUST)["Role"]
    monkeypatch.setenv("DELTA3_EXECUTOR_ROLE_ARN", role["Arn"])
    # Tests run as root, so the handler drops runs to an unprivileged uid, which cannot reach the
    # interpreter under /root/.pyenv; Debian's python3 stands in for the Lambda runtime's /var/lang python.
    monkeypatch.setenv("DELTA3_SANDBOX_PYTHON", "/usr/bin/python3")
    monkeypatch.delenv("DELTA3_DATA_DIR")  # nothing may land on local disk in AWS mode
    return printed


@pytest.fixture
def services(aws_mode, invoker):
    """Services as an entry point builds them, with the executor Lambda run in-process."""
    built = build_services(load_settings())
    assert built.settings.executor == "lambda"
    built.executor = make_executor(built.settings, built.backend, invoke=invoker)
    return built


class RecordingInvoker(InProcessInvoker):
    """The in-process stand-in for Lambda's invoke (the same JSON event in and out), remembering each event."""

    def __init__(self):
        self.events: list[dict] = []

    def __call__(self, event: dict) -> dict:
        self.events.append(event)
        return super().__call__(event)


@pytest.fixture
def invoker():
    return RecordingInvoker()


def http_api_event(form: dict) -> dict:
    """What API Gateway (HTTP API, payload 2.0) hands the webhook Lambda for Twilio's POST."""
    body = base64.b64encode(urllib.parse.urlencode(form).encode()).decode()
    return {"version": "2.0", "routeKey": "POST /twilio/webhook", "rawPath": "/twilio/webhook",
            "rawQueryString": "", "isBase64Encoded": True, "body": body,
            "headers": {"content-type": "application/x-www-form-urlencoded", "host": "sms.delta3.test",
                        "x-twilio-signature": sign(form), "x-forwarded-proto": "https"},
            "requestContext": {"stage": "$default", "http": {"method": "POST", "path": "/twilio/webhook",
                                                             "protocol": "HTTP/1.1", "sourceIp": "54.0.0.1"}}}


def test_sms_signup_key_and_a_coding_chat_run_on_aws(services, invoker, aws_mode, fake_gemini, fake_twilio):
    jobs: list[dict] = []
    app = create_app(services=services, defer=make_defer(services, invoke=jobs.append))
    app.config["TESTING"] = True
    texter = Texter(app.test_client())
    try:
        assert "Account created" in texter.reply(f"REGISTER ada@example.com {PASSWORD}")[0]
        assert "saved" in texter.reply(f"KEY {GEMINI_KEY}")[0]

        user = accounts.user_for_phone(services.backend, PHONE)
        table = boto3.client("dynamodb").scan(TableName=aws_mode["DELTA3_TABLE"])["Items"]
        assert GEMINI_KEY not in repr(table), "the Gemini key must be stored encrypted"
        assert keys.get_gemini_key(services.backend, user.user_id) == GEMINI_KEY

        # A chat SMS through the Lambda entry: an empty TwiML now, the answer from the async job.
        fake_gemini.enqueue(
            gemini_calls(gemini_call("write_file", {"path": "greet.py",
                                                     "content": "def greet(n):\n    return f'Hello, {n}!'\n"})),
            gemini_calls(gemini_call("execute_python", {"code": SCRIPT})),
            gemini_text("Done: it printed Hello, AWS!"))
        form = inbound_form("write greet.py and run it")
        response = call_wsgi(app, http_api_event(form))
        assert response["statusCode"] == 200 and twiml_messages(response["body"]) == []
        assert len(jobs) == 1 and jobs[0][JOB_KEY]["body"] == "write greet.py and run it"
        assert run_job(app.extensions["delta3_sms"], jobs[0])["ok"]
        sent = fake_twilio.wait_for(1)
        assert sent[0]["to"] == PHONE and "Hello, AWS!" in sent[0]["body"]

        # The run got credentials minted for this user from the role, not the app's own.
        assert len(invoker.events) == 1
        event = invoker.events[0]
        assert event["user_id"] == user.user_id and event["storage"]["prefix"] == f"users/{user.user_id}/workspace/"
        assert event["storage"]["credentials"]["access_key_id"] != os.environ["AWS_ACCESS_KEY_ID"]
        # The run's output reached the model, and its file is in S3 under the user's prefix.
        tool_result = repr(fake_gemini.generate_requests[-1].contents[-1])
        assert "Hello, AWS!" in tool_result
        obj = boto3.client("s3").get_object(Bucket=aws_mode["DELTA3_BUCKET"],
                                            Key=f"users/{user.user_id}/workspace/result.txt")
        assert obj["Body"].read() == b"ran in the executor"
        workspace = Workspace(services.backend, user.user_id, services.settings.quota_bytes)
        assert {f.path for f in workspace.list()} >= {"greet.py", "result.txt"}
        assert [m.role for m in history.recent(services.backend, user.user_id)][0] == "user"
    finally:
        app.extensions["delta3_sms"].close()


def test_web_chat_continues_the_sms_conversation_on_aws(aws_mode, web_app, fake_gemini):
    services = build_services(load_settings())
    user = accounts.register(services.backend, "bo@example.com", PASSWORD)
    keys.set_gemini_key(services.backend, user.user_id, GEMINI_KEY)
    from delta3_core.storage.base import Message

    history.append(services.backend, user.user_id, [Message("user", "remember the number 42", channel="sms"),
                                                    Message("assistant", "Noted: 42.", channel="sms")])
    Workspace(services.backend, user.user_id, services.settings.quota_bytes).write_text("notes.txt", "42\n")
    token = accounts.create_session(services.backend, user.user_id)
    from tests.fixtures.web import WebUser

    fake_gemini.enqueue(gemini_calls(gemini_call("read_file", {"path": "notes.txt"})),
                        gemini_text("Your notes say 42."))
    at = web_app(user=WebUser(user.user_id, user.email, PASSWORD, token))
    assert not at.exception and not at.error
    assert any("remember the number 42" in m.value for m in at.markdown)  # the SMS turn shows on the web
    at.chat_input[0].set_value("what do my notes say?").run()
    assert not at.exception and not at.error
    assert any("Your notes say 42." in m.value for m in at.markdown)
    assert "42" in repr(fake_gemini.generate_requests[-1].contents[-1])  # read_file read it from S3
    sent_context = repr(fake_gemini.generate_requests[0].contents)
    assert "remember the number 42" in sent_context  # SMS history is the web turn's context
    roles = [(m.role, m.channel) for m in history.recent(services.backend, user.user_id)]
    assert ("user", "web") in roles and ("user", "sms") in roles


def api_event(method: str, path: str, token: str | None = None, body: dict | None = None, query: str = "",
              accept: str = "application/json") -> dict:
    """What API Gateway (HTTP API, payload 2.0, the `$default` route) hands the function for a REST API call."""
    headers = {"host": "api.delta3.test", "x-forwarded-proto": "https", "accept": accept}
    if token:
        headers["authorization"] = f"Bearer {token}"
    event = {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query, "headers": headers,
             "isBase64Encoded": False,
             "requestContext": {"stage": "$default", "http": {"method": method, "path": path,
                                                              "protocol": "HTTP/1.1", "sourceIp": "54.0.0.2"}}}
    if body is not None:
        event["body"] = json.dumps(body)
        headers["content-type"] = "application/json"
    return event


def test_api_chat_turn_runs_through_the_api_gateway_adapter_on_aws(services, invoker, fake_gemini):
    app = create_app(services=services)
    try:
        def call(*args, **kwargs) -> tuple[int, dict | str]:
            response = call_wsgi(app, api_event(*args, **kwargs))
            body = base64.b64decode(response["body"]) if response.get("isBase64Encoded") else response["body"]
            is_json = "json" in response["headers"].get("content-type", "")
            return response["statusCode"], json.loads(body) if is_json else body

        status, session = call("POST", "/auth/register", body={"email": "api@example.com", "password": PASSWORD})
        assert status == 201
        token = session["token"]
        assert call("POST", "/auth/gemini-key", token, {"api_key": GEMINI_KEY})[0] == 200
        fake_gemini.enqueue(
            gemini_calls(gemini_call("write_file", {"path": "greet.py",
                                                     "content": "def greet(n):\n    return f'Hello, {n}!'\n"})),
            gemini_calls(gemini_call("execute_python", {"code": SCRIPT})),
            gemini_text("Done: it printed Hello, AWS!"))
        status, answer = call("POST", "/chat/send", token, {"message": "write greet.py and run it"})
        assert status == 200, answer
        assert answer["reply"] == "Done: it printed Hello, AWS!"
        assert [(t["name"], t["ok"]) for t in answer["tool_calls"]] == [("write_file", True), ("execute_python", True)]
        assert "Hello, AWS!" in answer["tool_calls"][1]["output"]
        assert {"greet.py", "result.txt"} <= set(answer["files_changed"])  # (and the run's __pycache__)
        assert len(invoker.events) == 1  # the code ran in the executor Lambda (in-process stand-in)
        status, raw = call("GET", "/files/download", token, query="path=result.txt")
        assert status == 200 and raw == b"ran in the executor"  # binary answers go out base64, as API Gateway needs
        fake_gemini.enqueue(gemini_text("Still here."))
        status, stream = call("POST", "/chat/send", token, {"message": "hi"}, accept="text/event-stream")
        assert status == 200 and stream.rstrip().split("\n\n")[-1].startswith("event: final")
        status, page = call("GET", "/chat/history", token, query="limit=2")
        assert [m["content"] for m in page["messages"]] == ["hi", "Still here."]
    finally:
        app.extensions["delta3_sms"].close()
