"""REST API /auth and /auth/tokens, over real HTTP against the running service."""

from __future__ import annotations

import pytest

from delta3_core import accounts, keys
from delta3_core.api.problems import from_domain
from delta3_core.errors import ModelError, QuotaExceededError, StorageError, ThrottledError
from tests.fixtures.api import API_PASSWORD


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_register_login_me_logout(api):
    with api.client() as client:
        created = client.post("/auth/register", json={"email": "Ada@Example.com", "password": API_PASSWORD})
        assert created.status_code == 201
        assert created.json()["user"]["email"] == "ada@example.com"
        assert created.json()["expires_at"].endswith("Z")
        login = client.post("/auth/login", json={"email": "ada@example.com", "password": API_PASSWORD})
        assert login.status_code == 200
        token = login.json()["token"]
        assert token != created.json()["token"]
    with api.client(token) as me:
        profile = me.get("/auth/me")
        assert profile.status_code == 200
        assert profile.json() == {**profile.json(), "email": "ada@example.com", "phone": None,
                                  "model": api.services.settings.model, "has_gemini_key": False}
        assert profile.headers["Cache-Control"] == "no-store"
        assert me.post("/auth/logout").status_code == 204
        _problem(me.get("/auth/me"), 401)  # that token is dead
    with api.client(created.json()["token"]) as first:
        assert first.get("/auth/me").status_code == 200  # the other session lives on


def test_register_refuses_taken_email_and_weak_password(api, api_user):
    with api.client() as client:
        assert "already exists" in _problem(client.post("/auth/register", json={
            "email": "ada@example.com", "password": API_PASSWORD}), 409)["detail"]
        assert "at least 10" in _problem(client.post("/auth/register", json={
            "email": "eve@example.com", "password": "short"}), 422)["detail"]


def test_wrong_password_is_401_and_never_echoed(api, api_user):
    with api.client() as client:
        body = _problem(client.post("/auth/login", json={"email": "ada@example.com", "password": "Wrong-pass-99"}),
                        401)
        assert "Wrong-pass-99" not in str(body)


@pytest.mark.parametrize("headers, content, status", [
    ({"Content-Type": "application/json"}, b"{not json", 400),
    ({"Content-Type": "application/json"}, b"[1, 2]", 400),
    ({"Content-Type": "application/json"}, b"", 400),
    ({"Content-Type": "text/plain"}, b'{"email": "a@b.cd", "password": "x"}', 415),
    ({"Content-Type": "application/json"}, b'{"email": 5, "password": "Secret-pass-1"}', 422),
    ({"Content-Type": "application/json"}, b'{"email": "a@b.cd", "password": "Secret-pass-1", "admin": true}', 422),
    ({"Content-Type": "application/json"}, b'{"email": "a@b.cd", "password": "Secret-pass-1\\ud800"}', 400),
    ({"Content-Type": "application/json"}, b'{"email": "\\udfff@example.com", "password": "Secret-pass-1"}', 400),
    ({"Content-Type": "application/json"}, b'{"email": "a@b.cd", "password": "Secret-pass-1\\ud83d\\ude00"}', 201),
    ({"Content-Type": "application/json"}, b'{"email": "a@b.cd", "password": "Secret-pass-1\xed\xa0\x80"}', 400),
    ({"Content-Type": "application/json"}, b'[' * 100000, 400),
])
def test_malformed_bodies_get_a_problem_not_a_crash(api, headers, content, status):
    with api.client() as client:
        response = client.post("/auth/register", content=content, headers=headers)
    if status == 201:  # a proper surrogate pair (an emoji) is fine
        assert response.status_code == 201, response.text
        return
    body = _problem(response, status)
    assert "Secret-pass-1" not in str(body)  # 422 names the field, never the value


def test_missing_bad_and_foreign_scheme_tokens_are_401(api):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic YTpi"},
                    {"Authorization": "Bearer d3p_0000_forged"}, {"Authorization": "Bearer " + "x" * 5000}):
        with api.client() as client:
            response = client.get("/auth/me", headers=headers)
            _problem(response, 401)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_path_and_method_are_problems(api, api_user):
    _problem(api_user.get("/files/nothing-here"), 404)
    response = api_user.delete("/auth/me/extra")
    _problem(response, 404)
    _problem(api_user.put("/auth/login", json={}), 405)


def test_password_change_and_logout_everywhere_revoke_sessions_not_personal_tokens(api, api_user):
    created = api_user.post("/auth/tokens", json={"name": "ci"}).json()
    user = api.services.backend.records.find_user_by_email("ada@example.com")
    accounts.change_password(api.services.backend, user.user_id, API_PASSWORD, "Another-pass-77")
    _problem(api_user.get("/auth/me"), 401)
    with api.client(created["token"]) as script:
        assert script.get("/auth/me").status_code == 200
    with api.client() as client:
        token = client.post("/auth/login", json={"email": "ada@example.com", "password": "Another-pass-77"}).json()
    accounts.logout_everywhere(api.services.backend, user.user_id)
    with api.client(token["token"]) as session:
        _problem(session.get("/auth/me"), 401)


def test_gemini_key_is_checked_saved_masked_and_removed(api, api_user, fake_gemini):
    fake_gemini.valid_keys = {"AIzaSyGoodKey-0123456789"}
    refused = _problem(api_user.post("/auth/gemini-key", json={"api_key": "AIzaSyBadKey-0123456789"}), 422)
    assert "rejected" in refused["detail"] and "AIzaSyBad" not in refused["detail"]
    saved = api_user.post("/auth/gemini-key", json={"api_key": "AIzaSyGoodKey-0123456789"})
    assert saved.status_code == 200
    assert saved.json() == {"has_gemini_key": True, "masked": "AIza…6789"}
    assert api_user.get("/auth/me").json()["has_gemini_key"] is True
    user = api.services.backend.records.find_user_by_email("ada@example.com")
    assert keys.get_gemini_key(api.services.backend, user.user_id) == "AIzaSyGoodKey-0123456789"
    assert api_user.delete("/auth/gemini-key").status_code == 204
    assert api_user.get("/auth/me").json()["has_gemini_key"] is False


@pytest.mark.parametrize("error, status", [
    (ModelError("Gemini is down.", "unavailable"), 502), (ModelError("Rejected.", "invalid_key"), 422),
    (ModelError("Slow down.", "quota"), 429), (StorageError("The database failed."), 503),
    (ThrottledError("Too many.", retry_after=61.2), 429), (QuotaExceededError("Full."), 413)])
def test_domain_errors_map_to_statuses_a_client_can_act_on(error, status):
    problem = from_domain(error)
    assert problem.status == status and problem.detail == str(error)
    if status == 429:
        assert int(problem.headers["Retry-After"]) >= 1


# ---------------------------------------------------------------- personal access tokens

def test_token_is_shown_once_listed_without_secret_and_revoked(api, api_user):
    created = api_user.post("/auth/tokens", json={"name": "laptop", "expires_in_days": 30})
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("d3p_") and created.json()["expires_at"]
    listed = api_user.get("/auth/tokens").json()["tokens"]
    assert [t["name"] for t in listed] == ["laptop"] and "token" not in listed[0]
    assert secret not in api_user.get("/auth/tokens").text
    stored = api.services.backend.records.get_access_token(__import__("hashlib").sha256(secret.encode()).hexdigest())
    assert stored is not None and secret not in repr(stored)
    with api.client(secret) as script:
        assert script.get("/auth/me").json()["email"] == "ada@example.com"
        assert api_user.delete(f"/auth/tokens/{created.json()['id']}").status_code == 204
        _problem(script.get("/auth/me"), 401)
    _problem(api_user.delete(f"/auth/tokens/{created.json()['id']}"), 404)


def test_logout_with_a_personal_token_revokes_it(api, api_user):
    secret = api_user.post("/auth/tokens", json={"name": "once"}).json()["token"]
    with api.client(secret) as script:
        assert script.post("/auth/logout").status_code == 204
        _problem(script.get("/auth/me"), 401)
    assert api_user.get("/auth/tokens").json()["tokens"] == []


def test_expired_token_stops_working(api, api_user, monkeypatch):
    secret = api_user.post("/auth/tokens", json={"name": "brief", "expires_in_days": 1}).json()["token"]
    with api.client(secret) as script:
        assert script.get("/auth/me").status_code == 200
        later = accounts.clock() + 86400 + 1
        monkeypatch.setattr(accounts, "clock", lambda: later)
        _problem(script.get("/auth/me"), 401)


def test_another_users_token_cannot_be_revoked(api, api_user, api_other):
    mine = api_user.post("/auth/tokens", json={"name": "mine"}).json()
    _problem(api_other.delete(f"/auth/tokens/{mine['id']}"), 404)
    assert api_other.get("/auth/tokens").json()["tokens"] == []
    with api.client(mine["token"]) as script:
        assert script.get("/auth/me").status_code == 200


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "x" * 101}, {"name": "a\nb"},
                                  {"name": "n", "expires_in_days": 0}, {"name": "n", "expires_in_days": 99999}, {}])
def test_bad_token_requests_are_422(api_user, body):
    _problem(api_user.post("/auth/tokens", json=body), 422)


def test_openapi_document_lists_every_operation(api):
    with api.client() as client:
        document = client.get("/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert {"/auth/register", "/auth/login", "/auth/logout", "/auth/me", "/auth/gemini-key", "/auth/tokens",
            "/auth/tokens/{token_id}", "/files/list", "/files/read", "/files/write"} <= set(document["paths"])
    assert document["paths"]["/auth/me"]["get"]["security"] == [{"bearer": []}]
    assert document["paths"]["/auth/login"]["post"]["security"] == []


def test_webhook_answers_503_naming_the_missing_setting_while_the_api_works(api):
    with api.client() as client:
        response = client.post("/twilio/webhook", data={"Body": "HELP"})
        assert response.status_code == 503 and "DELTA3_PUBLIC_URL" in response.text
        assert client.get("/healthz").status_code == 200
