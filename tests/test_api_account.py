"""REST API account lifecycle over real HTTP: DELETE /auth/me, GET /auth/export, password reset, daily budget."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile

import pytest

from delta3_core import accounts, keys, usage
from tests.fixtures.api import API_PASSWORD
from tests.fixtures.gemini import gemini_call, gemini_calls, gemini_text
from tests.fixtures.storage import local_settings
from tests.fixtures.twilio import ACCOUNT_SID, AUTH_TOKEN, TWILIO_NUMBER

PHONE = "+14155550100"


@pytest.fixture
def api_settings(tmp_path, fake_twilio):
    """Twilio (the fake) for reset codes, and a daily budget the user can change up to a maximum."""
    return local_settings(tmp_path, twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
                          twilio_phone_number=TWILIO_NUMBER, twilio_api_base_url=fake_twilio.base_url,
                          daily_token_limit=100_000, daily_token_limit_max=500_000)


def _ada(api):
    return api.services.backend.records.find_user_by_email("ada@example.com")


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    return response.json()


def test_delete_needs_the_password_then_everything_is_gone(api, api_user):
    user_id = _ada(api).user_id
    api_user.post("/files/write", json={"path": "a.txt", "content": "hello"})
    _problem(api_user.request("DELETE", "/auth/me", json={"password": "Wrong-pass-99"}), 401)
    _problem(api_user.request("DELETE", "/auth/me"), 400)  # no body: the password is required
    assert api_user.get("/auth/me").status_code == 200
    assert api_user.request("DELETE", "/auth/me", json={"password": API_PASSWORD}).status_code == 204
    _problem(api_user.get("/auth/me"), 401)
    assert api.services.backend.records.get_user(user_id) is None
    assert api.services.backend.files.list_files(user_id) == []
    with api.client() as client:
        _problem(client.post("/auth/login", json={"email": "ada@example.com", "password": API_PASSWORD}), 401)
    with api.register("ada@example.com") as again:  # the email registers again, fresh
        assert again.get("/files/list").json()["files"] == []


def test_export_has_workspace_history_with_tools_and_usage_and_no_secrets(api, api_user, fake_gemini):
    user = _ada(api)
    keys.set_gemini_key(api.services.backend, user.user_id, "AIzaSyTestKey-0123456789")
    fake_gemini.enqueue(gemini_calls(gemini_call("write_file", {"path": "src/hi.py", "content": "print('hi')\n"})),
                        gemini_text("I wrote src/hi.py.", prompt_tokens=120, output_tokens=7))
    assert api_user.post("/chat/send", json={"message": "Write hi.py"}).status_code == 200
    response = api_user.get("/auth/export")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.read("workspace/src/hi.py") == b"print('hi')\n"
    account = json.loads(archive.read("account.json"))
    assert account["email"] == "ada@example.com" and account["has_gemini_key"] is True
    assert account["daily_token_limit"] == 100_000 and account["usage_last_30_days"]["days"][0]["tokens_in"] >= 120
    messages = json.loads(archive.read("history.json"))
    assert [m["role"] for m in messages] == ["user", "tool", "assistant"]
    assert messages[1]["meta"]["tool"] == "write_file" and messages[1]["meta"]["args"]["path"] == "src/hi.py"
    assert messages[2]["content"] == "I wrote src/hi.py." and messages[2]["created_at"].endswith("Z")
    assert messages[2]["meta"]["usage"]["tokens_in"] == 100 + 120  # both model calls of the turn
    everything = b"".join(archive.read(name) for name in archive.namelist())
    stored = api.services.backend.records.get_user(user.user_id)
    for secret in ("AIzaSyTestKey-0123456789", stored.password_hash, stored.gemini_key_ct, "password_hash"):
        assert secret.encode() not in everything


def test_password_reset_by_sms_code_over_http(api, api_user, fake_twilio):
    user = _ada(api)
    accounts.link_phone(api.services.backend, user.user_id, PHONE)
    with api.client() as client:
        known = client.post("/auth/password-reset", json={"email": "ada@example.com"})
        unknown = client.post("/auth/password-reset", json={"email": "nobody@example.com"})
        assert known.status_code == unknown.status_code == 202
        assert known.json() == unknown.json() and "ask the operator" in known.json()["detail"].lower()
        code = re.search(r"\b(\d{6})\b", fake_twilio.wait_for(1)[0]["body"]).group(1)
        assert len(fake_twilio.messages) == 1  # nothing went anywhere for the unknown email
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        _problem(client.post("/auth/password-reset/confirm", json={
            "email": "ada@example.com", "code": wrong, "new_password": "Battery-staple-43"}), 401)
        _problem(client.post("/auth/password-reset/confirm", json={
            "email": "ada@example.com", "code": code, "new_password": "short"}), 422)
        done = client.post("/auth/password-reset/confirm", json={
            "email": "ada@example.com", "code": code, "new_password": "Battery-staple-43"})
        assert done.status_code == 200, done.text
        _problem(api_user.get("/auth/me"), 401)  # the old session is revoked
        assert client.post("/auth/login", json={"email": "ada@example.com",
                                                "password": "Battery-staple-43"}).status_code == 200


def test_asking_too_often_is_429_with_retry_after(api, steady_window):
    with api.client() as client:
        for _ in range(accounts.MAX_FAILURES_PER_EMAIL):
            assert client.post("/auth/password-reset", json={"email": "eve@example.com"}).status_code == 202
        refused = client.post("/auth/password-reset", json={"email": "eve@example.com"})
        _problem(refused, 429)
        assert int(refused.headers["Retry-After"]) >= 1
        _problem(client.post("/auth/password-reset", json={"email": "not an email"}), 422)


def test_daily_limit_is_set_within_the_maximum(api_user):
    assert api_user.get("/auth/me").json()["daily_token_limit"] == 100_000
    changed = api_user.patch("/auth/me", json={"daily_token_limit": 250_000})
    assert changed.status_code == 200 and changed.json()["daily_token_limit"] == 250_000
    assert "at most 500,000" in _problem(api_user.patch("/auth/me", json={"daily_token_limit": 600_000}), 422)["detail"]
    for bad in (0, -1, "lots", 2.5, True):
        _problem(api_user.patch("/auth/me", json={"daily_token_limit": bad}), 422)
    assert api_user.get("/auth/me").json()["daily_token_limit"] == 250_000
    assert api_user.patch("/auth/me", json={"daily_token_limit": None}).json()["daily_token_limit"] == 100_000


def test_a_turn_past_the_daily_limit_is_429_naming_the_limit(api, api_user, fake_gemini):
    user = _ada(api)
    keys.set_gemini_key(api.services.backend, user.user_id, "AIzaSyTestKey-0123456789")
    usage.record_usage(api.services.backend, user.user_id, 90_000, 10_000)
    refused = api_user.post("/chat/send", json={"message": "one more?"})
    body = _problem(refused, 429)
    assert "daily limit of 100,000 tokens" in body["detail"] and "00:00 UTC" in body["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 86400
    assert fake_gemini.requests == []  # Gemini was never called
    assert api_user.get("/chat/history").json()["messages"] == []  # a refused message is not kept
    assert api_user.patch("/auth/me", json={"daily_token_limit": 200_000}).status_code == 200
    fake_gemini.enqueue(gemini_text("Yes."))
    assert api_user.post("/chat/send", json={"message": "one more?"}).status_code == 200


def test_an_account_made_with_google_deletes_with_its_email_instead_of_a_password(api):
    from delta3_core.accounts import oidc

    identity = oidc.identity_from_claims({"iss": "https://accounts.example.test", "sub": "g-7", "iat": int(time.time()),
                                          "email": "gina@example.com", "email_verified": True, "nonce": "n-7"})
    user = oidc.sign_in(api.services.backend, identity)
    with api.client(accounts.create_session(api.services.backend, user.user_id)) as gina:
        problem = _problem(gina.request("DELETE", "/auth/me", json={"password": "anything-at-all"}), 422)
        assert "email address" in problem["detail"]
        _problem(gina.request("DELETE", "/auth/me", json={"email": "someone@example.com"}), 422)
        assert gina.get("/auth/me").status_code == 200
        assert gina.request("DELETE", "/auth/me", json={"email": "Gina@example.com"}).status_code == 204
        _problem(gina.get("/auth/me"), 401)
    assert api.services.backend.records.get_user(user.user_id) is None
