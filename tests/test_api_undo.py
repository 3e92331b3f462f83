"""REST API POST /chat/undo over real HTTP: walks back turn by turn, then 409 when nothing is left."""

from __future__ import annotations

from delta3_core.checkpoints import Recorder
from delta3_core.workspace import Workspace


def test_undo_walks_back_three_turns_then_409(api, api_user):
    user = api.services.backend.records.find_user_by_email("ada@example.com")
    ws = Workspace(api.services.backend, user.user_id, api.services.settings.quota_bytes)
    ws.write_bytes("data.bin", b"\x00original")
    for n in (1, 2, 3):
        recorder = Recorder(api.services, user.user_id, "web", f"turn {n}")
        with recorder.changing(["data.bin", f"file{n}.txt"]):
            ws.write_bytes("data.bin", b"\x00version %d" % n)
            ws.write_text(f"file{n}.txt", str(n))
        recorder.commit()
    for n in (3, 2, 1):
        answer = api_user.post("/chat/undo")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["restored"] == ["data.bin", f"file{n}.txt"] and body["kept"] == [] and body["turn"]
        assert ws.read_bytes("data.bin") == (b"\x00version %d" % (n - 1) if n > 1 else b"\x00original")
        assert not ws.exists(f"file{n}.txt")
    problem = api_user.post("/chat/undo")
    assert problem.status_code == 409
    assert problem.headers["Content-Type"].startswith("application/problem+json")
    assert problem.json()["detail"].startswith("Nothing left to undo")


def test_undo_needs_a_token(api):
    with api.client() as anonymous:
        assert anonymous.post("/chat/undo").status_code == 401


def test_undo_is_in_the_openapi_document(api_user):
    document = api_user.get("/openapi.json").json()
    assert "409" in document["paths"]["/chat/undo"]["post"]["responses"]
