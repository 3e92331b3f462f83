"""REST API raw transfers (download, multipart upload, zip export), limits, CORS, docs and logs."""

from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import replace

import pytest

from tests.fixtures.api import API_PASSWORD


def test_upload_download_export_and_delete(api_user):
    uploaded = api_user.post("/files/upload", data={"path": "in"}, files=[
        ("file", ("a.txt", b"alpha")), ("file", ("pic.png", b"\x89PNG\r\n\x1a\n\x00"))])
    assert uploaded.status_code == 201, uploaded.text
    assert [(f["path"], f["size"]) for f in uploaded.json()["files"]] == [("in/a.txt", 5), ("in/pic.png", 9)]
    download = api_user.get("/files/download", params={"path": "in/pic.png"})
    assert download.content == b"\x89PNG\r\n\x1a\n\x00"
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    export = api_user.get("/files/export")
    assert export.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        assert archive.read("in/a.txt") == b"alpha"
    assert api_user.post("/files/delete", json={"path": "in"}).status_code == 204
    assert api_user.get("/files/list").json()["files"] == []
    assert api_user.post("/files/delete", json={"path": "in"}).status_code == 404


@pytest.mark.parametrize("files, data", [([], {}), ([("other", ("a.txt", b"a"))], {}),
                                         ([("file", ("a.txt", b"a"))], {"path": "../up"}),
                                         ([("file", ("", b"a"))], {})])
def test_bad_uploads_are_refused_plainly(api_user, files, data):
    response = api_user.post("/files/upload", data=data, files=files or None,
                             headers={} if files else {"Content-Type": "multipart/form-data; boundary=x"})
    assert response.status_code in (400, 422), response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")


def test_upload_over_the_file_limit_is_413(api, api_user, api_settings):
    api.services.settings = replace(api_settings, run_file_mb=1)
    response = api_user.post("/files/upload", files=[("file", ("big.bin", b"x" * (1024 * 1024 + 10)))])
    assert response.status_code == 413
    response = api_user.post("/files/upload", files=[("file", ("huge.bin", b"x" * (3 * 1024 * 1024)))])
    assert response.status_code == 413 and response.headers["Content-Type"].startswith("application/problem+json")
    assert api_user.get("/files/list").json()["files"] == []


def test_download_of_a_missing_file_is_404(api_user):
    assert api_user.get("/files/download", params={"path": "nope"}).status_code == 404
    assert api_user.get("/files/download", params={"path": "../x"}).status_code == 422


@pytest.fixture
def one_window(monkeypatch):
    """Rate-limit windows that cannot roll over mid-test (the store counts in fixed windows of the clock)."""
    from delta3_core.api import limits

    monkeypatch.setattr(limits, "WINDOW_S", 10**9)


def test_rate_limit_per_token_answers_429_with_retry_after(api, api_user, api_settings, one_window):
    api.services.settings = replace(api_settings, api_rate_per_token=3, api_rate_per_account=100)
    statuses = [api_user.get("/auth/me").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = api_user.get("/auth/me")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "this token" in limited.json()["detail"]


def test_rate_limit_per_account_holds_across_tokens(api, api_user, api_settings, one_window):
    tokens = [api_user.post("/auth/tokens", json={"name": f"t{n}"}).json()["token"] for n in range(3)]
    # Those three requests counted too: four more are allowed, whichever token sends them.
    api.services.settings = replace(api_settings, api_rate_per_token=100, api_rate_per_account=7)
    statuses = []
    for token in tokens:
        with api.client(token) as client:
            statuses += [client.get("/auth/me").status_code for _ in range(2)]
    assert statuses.count(429) == 2 and statuses[:4] == [200] * 4


def test_rate_limit_per_source_for_calls_without_a_token(api, api_settings, one_window):
    api.services.settings = replace(api_settings, api_rate_per_source=2)
    with api.client() as client:
        statuses = [client.post("/auth/login", json={"email": "x@example.com", "password": "Whatever-99"}).status_code
                    for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_cors_is_off_unless_the_origin_is_listed(api, api_user, api_settings):
    origin = {"Origin": "https://app.example.com"}
    assert "Access-Control-Allow-Origin" not in api_user.get("/auth/me", headers=origin).headers
    api.services.settings = replace(api_settings, api_cors_origins=("https://app.example.com",))
    allowed = api_user.get("/auth/me", headers=origin)
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    preflight = api_user.options("/chat/send", headers={**origin, "Access-Control-Request-Method": "POST",
                                                        "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code in (200, 204) and "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    other = api_user.get("/auth/me", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_docs_render_from_local_files(api):
    with api.client(follow_redirects=True) as client:
        page = client.get("/docs/")
        assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets and all(a.startswith("/docs/") for a in assets)  # no CDN: every script and style is ours
        for asset in assets:
            assert client.get(asset).status_code == 200
        assert client.get("/openapi.json").headers["Cache-Control"] == "no-store"


def test_logs_never_hold_tokens_passwords_or_keys(api, caplog):
    caplog.set_level(logging.DEBUG)
    with api.client() as client:
        session = client.post("/auth/register", json={"email": "log@example.com", "password": API_PASSWORD}).json()
        client.post("/auth/login", json={"email": "log@example.com", "password": "Wrong-password-1"})
    with api.client(session["token"]) as user:
        secret = user.post("/auth/tokens", json={"name": "x"}).json()["token"]
        user.post("/auth/gemini-key", json={"api_key": "not a key at all"})
        user.get("/auth/me", headers={"Authorization": f"Bearer {secret}"})
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret_text in (session["token"], secret, API_PASSWORD, "Wrong-password-1", "not a key at all"):
        assert secret_text not in text
