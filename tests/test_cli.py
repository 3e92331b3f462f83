"""The `delta3` command line against the running service: a whole session, and errors as one sentence."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from delta3_core import keys
from tests.fixtures.api import API_PASSWORD
from tests.fixtures.gemini import gemini_call, gemini_calls, gemini_text

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def delta3(api, tmp_path):
    """Run `delta3 ARGS...` (as `python -m delta3_cli`) against the service; returns the finished process."""
    config = tmp_path / "config"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DELTA3_")}
    env.update({"DELTA3_URL": api.base_url, "XDG_CONFIG_HOME": str(config), "PYTHONPATH": str(ROOT)})

    def run(*args: str, stdin: str = "", **extra_env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "delta3_cli", *args], input=stdin, capture_output=True,
                              text=True, env={**env, **extra_env}, cwd=tmp_path, timeout=60)

    run.config = config / "delta3" / "credentials.json"
    return run


def test_a_whole_session_login_chat_files_history_tokens(api, api_user, delta3, fake_gemini, tmp_path):
    user = api.services.backend.records.find_user_by_email("ada@example.com")
    keys.set_gemini_key(api.services.backend, user.user_id, "AIzaSyCliKey-0123456789")

    done = delta3("login", "ada@example.com", DELTA3_PASSWORD=API_PASSWORD)
    assert done.returncode == 0, done.stderr
    assert "Logged in as ada@example.com" in done.stdout
    assert stat.S_IMODE(delta3.config.stat().st_mode) == 0o600
    assert json.loads(delta3.config.read_text())["url"] == api.base_url

    fake_gemini.enqueue(gemini_calls(gemini_call("write_file", {"path": "hello.py", "content": "print('hi')\n"})),
                        gemini_text("I wrote hello.py for you."))
    done = delta3("chat", "write", "hello.py")
    assert done.returncode == 0, done.stderr
    assert "I wrote hello.py for you." in done.stdout
    assert "▶ write_file hello.py" in done.stderr and "✓" in done.stderr
    assert "Files changed: hello.py" in done.stderr

    assert "hello.py" in delta3("files", "ls").stdout
    assert delta3("files", "get", "hello.py", "-o", "-").stdout == "print('hi')\n"
    (tmp_path / "local.bin").write_bytes(b"\x00\x01binary")
    assert delta3("files", "put", "local.bin", "data/copy.bin").returncode == 0
    assert delta3("files", "get", "data/copy.bin").returncode == 0
    assert (tmp_path / "copy.bin").read_bytes() == b"\x00\x01binary"
    assert delta3("files", "rm", "data").returncode == 0
    assert "data" not in delta3("files", "ls").stdout

    history = delta3("history").stdout
    assert "write hello.py" in history and "I wrote hello.py for you." in history

    created = delta3("token", "create", "ci", "--days", "7")
    secret = created.stdout.strip()
    assert created.returncode == 0 and secret.startswith("d3p_") and "not shown again" in created.stderr
    listed = delta3("token", "ls").stdout
    assert "ci" in listed and secret not in listed
    assert delta3("files", "ls", DELTA3_TOKEN=secret).returncode == 0  # DELTA3_TOKEN wins over the saved login
    token_id = listed.split()[0]
    assert delta3("token", "revoke", token_id).returncode == 0
    refused = delta3("files", "ls", DELTA3_TOKEN=secret)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "revoked" in refused.stderr

    assert delta3("logout").returncode == 0
    assert not delta3.config.exists()
    after = delta3("files", "ls")
    assert after.returncode == 1 and "delta3 login" in after.stderr


def test_errors_are_one_sentence_and_a_nonzero_exit(api, api_user, delta3):
    wrong = delta3("login", "ada@example.com", DELTA3_PASSWORD="Wrong-password-1")
    assert wrong.returncode == 1 and wrong.stderr == "delta3: Wrong email or password.\n"
    unreachable = delta3("files", "ls", DELTA3_URL="http://127.0.0.1:9", DELTA3_TOKEN="x")
    assert unreachable.returncode == 1 and "Cannot reach DELTA3" in unreachable.stderr
    assert unreachable.stderr.count("\n") == 1
    missing = delta3("files", "get", "nope.txt", DELTA3_TOKEN=api_user.headers["Authorization"][7:])
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "nope.txt" not in missing.stdout


def test_chat_without_a_key_says_how_to_fix_it(api, api_user, delta3):
    done = delta3("chat", "hello", DELTA3_TOKEN=api_user.headers["Authorization"][7:])
    assert done.returncode == 1 and "/auth/gemini-key" in done.stderr


def test_pyproject_installs_the_delta3_command():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    module, function = project["scripts"]["delta3"].split(":")
    assert module == "delta3_cli.__main__" and callable(getattr(__import__(module, fromlist=[function]), function))


def test_undo_reverts_the_chat_turn_then_says_nothing_is_left(api, api_user, delta3, fake_gemini):
    user = api.services.backend.records.find_user_by_email("ada@example.com")
    keys.set_gemini_key(api.services.backend, user.user_id, "AIzaSyCliKey-0123456789")
    assert delta3("login", "ada@example.com", DELTA3_PASSWORD=API_PASSWORD).returncode == 0
    fake_gemini.enqueue(gemini_calls(gemini_call("write_file", {"path": "hello.py", "content": "print('hi')\n"})),
                        gemini_text("I wrote hello.py."))
    assert delta3("chat", "write hello.py").returncode == 0
    done = delta3("undo")
    assert done.returncode == 0, done.stderr
    assert "restored hello.py" in done.stdout
    assert [f["path"] for f in api_user.get("/files/list").json()["files"]] == []
    again = delta3("undo")
    assert again.returncode == 1 and again.stderr.startswith("delta3: Nothing left to undo")
