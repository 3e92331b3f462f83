"""REST API /files: list, read, write, over real HTTP, with the same path checks and quota as other channels."""

from __future__ import annotations

import base64

import pytest

from delta3_core.workspace import Workspace


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    return response.json()


def _workspace(api, email="ada@example.com") -> Workspace:
    user = api.services.backend.records.find_user_by_email(email)
    return Workspace(api.services.backend, user.user_id, api.services.settings.quota_bytes)


def test_write_read_and_list_text_and_binary(api, api_user):
    written = api_user.post("/files/write", json={"path": "src/hello.py", "content": "print('héllo')\n"})
    assert written.json() == {"path": "src/hello.py", "size": len("print('héllo')\n".encode())}
    blob = bytes(range(256))
    api_user.post("/files/write", json={"path": "data.bin", "content": base64.b64encode(blob).decode(),
                                        "encoding": "base64"})
    assert _workspace(api).read_bytes("data.bin") == blob
    text = api_user.post("/files/read", json={"path": "./src/../src/hello.py"}).json()
    assert text == {"path": "src/hello.py", "content": "print('héllo')\n", "encoding": "utf-8", "size": 16}
    binary = api_user.post("/files/read", json={"path": "data.bin"}).json()
    assert binary["encoding"] == "base64" and base64.b64decode(binary["content"]) == blob
    listing = api_user.get("/files/list").json()
    assert [(f["path"], f["is_dir"]) for f in listing["files"]] == [("data.bin", False), ("src", True),
                                                                      ("src/hello.py", False)]
    assert listing["used_bytes"] == 256 + 16 and listing["quota_bytes"] == api.services.settings.quota_bytes
    assert [f["path"] for f in api_user.get("/files/list", params={"path": "src"}).json()["files"]] == [
        "src", "src/hello.py"]


def test_files_written_elsewhere_are_seen_by_the_api(api, api_user):
    _workspace(api).write_text("notes.md", "# from the web")
    assert api_user.post("/files/read", json={"path": "notes.md"}).json()["content"] == "# from the web"


@pytest.mark.parametrize("path", ["../etc/passwd", "/etc/passwd", "a/../../x", "~/x", "a\\..\\b", "bad\x00name", ""])
def test_paths_outside_the_workspace_are_refused(api_user, path):
    assert _problem(api_user.post("/files/write", json={"path": path, "content": "x"}), 422)["detail"]
    _problem(api_user.post("/files/read", json={"path": path}), 422)


def test_missing_file_and_folder_are_404(api_user):
    _problem(api_user.post("/files/read", json={"path": "nope.txt"}), 404)
    _problem(api_user.get("/files/list", params={"path": "nowhere"}), 404)


def test_reading_a_folder_is_a_problem_not_a_crash(api_user):
    api_user.post("/files/write", json={"path": "dir/a.txt", "content": "a"})
    assert api_user.post("/files/read", json={"path": "dir"}).status_code in (404, 409, 422)


def test_bad_base64_is_422_and_nothing_written(api, api_user):
    _problem(api_user.post("/files/write", json={"path": "x.bin", "content": "%%%", "encoding": "base64"}), 422)
    _problem(api_user.post("/files/write", json={"path": "x.bin", "content": "x", "encoding": "latin-1"}), 422)
    assert not _workspace(api).exists("x.bin")


def test_quota_is_413_with_a_sentence_and_old_file_kept(api, api_user, api_settings, tmp_path):
    from dataclasses import replace

    api.services.settings = replace(api_settings, quota_mb=1)
    api_user.post("/files/write", json={"path": "keep.txt", "content": "old"})
    body = _problem(api_user.post("/files/write", json={"path": "keep.txt", "content": "x" * (1024 * 1024 + 1)}), 413)
    assert "full" in body["detail"]
    assert _workspace(api).read_bytes("keep.txt") == b"old"


def test_per_file_limit_is_413(api, api_user, api_settings):
    from dataclasses import replace

    api.services.settings = replace(api_settings, run_file_mb=1)
    _problem(api_user.post("/files/write", json={"path": "big.txt", "content": "x" * (1024 * 1024 + 1)}), 413)
    too_big_body = "x" * (2 * 1024 * 1024)  # past the body limit itself: refused before it is parsed
    _problem(api_user.post("/files/write", json={"path": "big.txt", "content": too_big_body}), 413)


def test_no_token_no_files(api):
    with api.client() as client:
        _problem(client.get("/files/list"), 401)
        _problem(client.post("/files/read", json={"path": "a"}), 401)
        _problem(client.post("/files/write", json={"path": "a", "content": "x"}), 401)


def test_users_never_see_each_others_files(api, api_user, api_other):
    api_user.post("/files/write", json={"path": "secret.txt", "content": "ada's"})
    assert api_other.get("/files/list").json()["files"] == []
    _problem(api_other.post("/files/read", json={"path": "secret.txt"}), 404)
    api_other.post("/files/write", json={"path": "secret.txt", "content": "bob's"})
    assert api_user.post("/files/read", json={"path": "secret.txt"}).json()["content"] == "ada's"


@pytest.mark.parametrize("attempt", [
    lambda c: c.post("/files/read", json={"path": "secret.txt"}),
    lambda c: c.get("/files/download", params={"path": "secret.txt"}),
    lambda c: c.post("/files/delete", json={"path": "secret.txt"}),
    lambda c: c.get("/files/list", params={"path": "secret.txt"}),
])
def test_no_endpoint_taking_a_path_reaches_another_account(api, api_user, api_other, attempt):
    api_user.post("/files/write", json={"path": "secret.txt", "content": "ada's"})
    assert attempt(api_other).status_code == 404
    api_other.post("/files/upload", files=[("file", ("secret.txt", b"bob's"))])
    api_other.post("/files/write", json={"path": "secret.txt", "content": "bob's again"})
    assert _workspace(api).read_bytes("secret.txt") == b"ada's"
