"""DESIGN.md §4 row by row, against `python -m sms_webhook` started as operators start it (no Twilio settings),
over real HTTP: every REST endpoint of the table with its documented status and body, undo and async turns."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import httpx
import pytest

from delta3_core import accounts
from delta3_core.config import load_settings
from delta3_core.services import build_services
from tests.fixtures.gemini import gemini_call, gemini_calls, gemini_text
from tests.fixtures.service import Service, _wait
from tests.fixtures.storage import TEST_SECRET

ROOT = Path(__file__).resolve().parent.parent
PASSWORD, NEW_PASSWORD = "Correct-horse-9", "Another-horse-10"
GOOD_KEY, BAD_KEY = "AIzaSy-design-good-000000000000", "AIzaSy-design-bad-0000000000000"


@pytest.fixture
def service(tmp_path, fake_gemini):
    """The service without any Twilio setting; (base URL, in-process services on the same data dir)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DELTA3_", "TWILIO_", "AWS_"))}
    env.update({"DELTA3_SECRET_KEY": TEST_SECRET, "DELTA3_DATA_DIR": str(tmp_path / "data"),
                "GOOGLE_GEMINI_BASE_URL": fake_gemini.base_url, "PYTHONPATH": str(ROOT)})
    running = Service(env, tmp_path / "service.log").start()
    services = build_services(load_settings(environ={k: v for k, v in env.items() if k.startswith("DELTA3_")}))
    yield running.base, services
    running.stop()


def problem(response: httpx.Response, status: int) -> dict:
    """The RFC 9457 body of an error answer with `status`."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys() and body["status"] == status
    return body


def test_every_row_of_the_rest_api_table(service, fake_gemini):
    base, services = service
    anon = httpx.Client(base_url=base, timeout=30)
    assert anon.get("/healthz").status_code == 200
    hook = anon.post("/twilio/webhook", data={"From": "+14155550100", "Body": "hi"})
    assert hook.status_code == 503 and "must be set" in hook.text  # says which setting is missing
    assert anon.get("/openapi.json").json()["openapi"].startswith("3.1")
    assert anon.get("/docs", follow_redirects=True).status_code == 200

    # -- auth: register, login, me, models, key ---------------------------------------------------
    made = anon.post("/auth/register", json={"email": "ada@example.com", "password": PASSWORD})
    assert made.status_code == 201 and {"token", "expires_at", "user"} <= made.json().keys()
    problem(anon.post("/auth/register", json={"email": "ada@example.com", "password": PASSWORD}), 409)
    problem(anon.post("/auth/register", content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    login = anon.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert login.status_code == 200 and {"token", "expires_at", "user"} <= login.json().keys()
    problem(anon.get("/auth/me"), 401)
    ada = httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {login.json()['token']}"})
    me = ada.get("/auth/me").json()
    assert {"email", "phone", "model", "has_gemini_key", "created_at"} <= me.keys() and not me["has_gemini_key"]
    fake_gemini.valid_keys = {GOOD_KEY}
    assert 400 <= ada.post("/auth/gemini-key", json={"api_key": BAD_KEY}).status_code < 500
    saved = ada.post("/auth/gemini-key", json={"api_key": GOOD_KEY})
    assert saved.status_code == 200 and saved.json()["has_gemini_key"] and GOOD_KEY not in saved.text
    assert GOOD_KEY not in ada.get("/auth/me").text
    models = ada.get("/models").json()
    names = [m["name"] for m in models["models"]]
    assert models["default"] in names and all("display_name" in m for m in models["models"])
    problem(ada.patch("/auth/me", json={"model": "gemini-1.0-pro"}), 422)  # not in the live list
    assert ada.patch("/auth/me", json={"model": names[-1]}).json()["model"] == names[-1]
    assert ada.patch("/auth/me", json={"model": None}).status_code == 200

    # -- personal access tokens --------------------------------------------------------------------
    created = ada.post("/auth/tokens", json={"name": "ci", "expires_in_days": 30})
    assert created.status_code == 201 and {"id", "name", "token"} <= created.json().keys()
    pat = created.json()
    listed = ada.get("/auth/tokens")
    assert listed.status_code == 200 and pat["token"] not in listed.text and pat["id"] in listed.text
    with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {pat['token']}"}) as ci:
        assert ci.get("/auth/me").status_code == 200
        assert ada.delete(f"/auth/tokens/{pat['id']}").status_code == 204
        problem(ci.get("/auth/me"), 401)
    problem(ada.delete(f"/auth/tokens/{pat['id']}"), 404)

    # -- chat: send (JSON and SSE), history, undo, async turns, clear ------------------------------
    fake_gemini.enqueue(gemini_calls(gemini_call("write_file", {"path": "hi.py", "content": "print('hi')\n"})),
                        gemini_text("I wrote hi.py."))
    sent = ada.post("/chat/send", json={"message": "write hi.py"})
    assert sent.status_code == 200, sent.text
    answer = sent.json()
    assert {"reply", "tool_calls", "files_changed", "usage"} <= answer.keys()
    assert answer["reply"] == "I wrote hi.py." and answer["files_changed"] == ["hi.py"]
    assert [t["name"] for t in answer["tool_calls"]] == ["write_file"]
    fake_gemini.enqueue(gemini_text("Streamed hello."))
    with ada.stream("POST", "/chat/send", json={"message": "say hello"}, headers={"Accept": "text/event-stream"}) as s:
        assert s.status_code == 200 and s.headers["Content-Type"].startswith("text/event-stream")
        events = [line.removeprefix("event: ") for line in s.iter_lines() if line.startswith("event: ")]
    assert "text" in events and events[-1] == "final"
    history = ada.get("/chat/history", params={"limit": 2})
    assert history.status_code == 200 and {"messages", "next_before"} <= history.json().keys()
    message = history.json()["messages"][-1]
    assert {"seq", "role", "content", "channel", "created_at", "meta"} <= message.keys()
    assert message["content"] == "Streamed hello." and message["channel"] == "api"
    older = ada.get("/chat/history", params={"before": history.json()["next_before"]}).json()["messages"]
    assert older and all(m["seq"] < history.json()["messages"][0]["seq"] for m in older)
    undone = ada.post("/chat/undo")
    assert undone.status_code == 200 and undone.json()["restored"] == ["hi.py"] and undone.json()["turn"]
    problem(ada.post("/chat/undo"), 409)  # nothing left to undo
    fake_gemini.enqueue(gemini_text("Later."))
    accepted = ada.post("/chat/send", json={"message": "async please"}, headers={"Prefer": "respond-async"})
    assert accepted.status_code == 202 and accepted.headers["Location"].endswith(accepted.json()["turn_id"])
    turn = _wait(lambda: (s := ada.get(accepted.headers["Location"]).json())["status"] == "done" and s, "the turn")
    assert turn["answer"]["reply"] == "Later."
    problem(ada.get("/chat/turns/nope"), 404)
    assert ada.post("/chat/clear").status_code == 204
    assert ada.get("/chat/history").json()["messages"] == []

    # -- files -------------------------------------------------------------------------------------
    assert ada.post("/files/write", json={"path": "src/a.txt", "content": "alpha"}).json() == {"path": "src/a.txt",
                                                                                              "size": 5}
    raw = bytes(range(256))
    up = ada.post("/files/upload", files={"file": ("b.bin", raw)}, data={"path": "src"})
    assert up.status_code in (200, 201), up.text
    listing = ada.get("/files/list").json()
    assert {"files", "used_bytes", "quota_bytes"} <= listing.keys()
    assert {"path", "size", "modified", "is_dir"} <= listing["files"][0].keys()
    assert {f["path"] for f in listing["files"]} >= {"src", "src/a.txt", "src/b.bin"}
    read = ada.post("/files/read", json={"path": "src/b.bin"}).json()
    assert read["encoding"] == "base64" and read["size"] == 256
    assert ada.post("/files/read", json={"path": "src/a.txt"}).json()["content"] == "alpha"
    assert ada.get("/files/download", params={"path": "src/b.bin"}).content == raw
    problem(ada.post("/files/read", json={"path": "../etc/passwd"}), 422)
    problem(ada.post("/files/read", json={"path": "missing.txt"}), 404)
    exported = zipfile.ZipFile(io.BytesIO(ada.get("/files/export").content))
    assert exported.read("src/a.txt") == b"alpha"
    assert ada.post("/files/delete", json={"path": "src/a.txt"}).status_code in (200, 204)
    problem(ada.post("/files/read", json={"path": "src/a.txt"}), 404)

    # -- export, password reset, logout, delete ----------------------------------------------------
    archive = zipfile.ZipFile(io.BytesIO(ada.get("/auth/export").content))
    assert json.loads(archive.read("account.json"))["email"] == "ada@example.com"
    assert archive.read("workspace/src/b.bin") == raw
    for email in ("ada@example.com", "nobody@example.com"):  # the same answer: no account discovery
        assert anon.post("/auth/password-reset", json={"email": email}).status_code == 202
    code = accounts.operator_code(services, "ada@example.com")
    problem(anon.post("/auth/password-reset/confirm", json={"email": "ada@example.com", "code": "000000",
                                                           "new_password": NEW_PASSWORD}), 401)
    assert anon.post("/auth/password-reset/confirm", json={"email": "ada@example.com", "code": code,
                                                           "new_password": NEW_PASSWORD}).status_code == 200
    problem(ada.get("/auth/me"), 401)  # old sessions revoked
    token = anon.post("/auth/login", json={"email": "ada@example.com", "password": NEW_PASSWORD}).json()["token"]
    ada.headers["Authorization"] = f"Bearer {token}"
    assert ada.post("/auth/logout").status_code == 204
    problem(ada.get("/auth/me"), 401)  # that token is dead
    token = anon.post("/auth/login", json={"email": "ada@example.com", "password": NEW_PASSWORD}).json()["token"]
    ada.headers["Authorization"] = f"Bearer {token}"
    problem(ada.request("DELETE", "/auth/me", json={"password": PASSWORD}), 401)
    assert ada.request("DELETE", "/auth/me", json={"password": NEW_PASSWORD}).status_code == 204
    problem(anon.post("/auth/login", json={"email": "ada@example.com", "password": NEW_PASSWORD}), 401)
    anon.close()
    ada.close()
