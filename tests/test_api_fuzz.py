"""schemathesis against the running service's own /openapi.json: every operation, bounded and reproducible.

Checks: no 5xx, responses match their schemas and documented status codes, and auth is never ignored.
Logout gets a run of its own at the end, since it kills the token the other operations use.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.api import API_PASSWORD
from tests.fixtures.gemini import FakeGemini, gemini_text
from tests.fixtures.service import start_service
from tests.fixtures.storage import TEST_SECRET

ROOT = Path(__file__).resolve().parent.parent
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,ignored_auth"
EXAMPLES = os.environ.get("DELTA3_FUZZ_EXAMPLES", "25")


@pytest.fixture
def service(tmp_path):
    """`python -m sms_webhook` on a free port, its Gemini a local fake that always answers."""
    gemini = FakeGemini()
    gemini.default_reply = gemini_text("Fuzzed, and still answering.")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DELTA3_", "TWILIO_"))}
    env.update({"DELTA3_DATA_DIR": str(tmp_path / "data"), "DELTA3_SECRET_KEY": TEST_SECRET,
                "PYTHONPATH": str(ROOT), "GOOGLE_GEMINI_BASE_URL": gemini.base_url,
                "DELTA3_API_RATE_PER_TOKEN": "100000", "DELTA3_API_RATE_PER_ACCOUNT": "100000",
                "DELTA3_API_RATE_PER_SOURCE": "100000", "DELTA3_MODEL_TIMEOUT": "10"})
    proc, base = start_service(env)
    yield base
    proc.terminate()
    output = proc.communicate(timeout=10)[0].decode()
    gemini.close()
    assert "Traceback" not in output, output  # nothing blew up inside, even where the answer looked fine


def _token(base: str) -> str:
    request = urllib.request.Request(base + "/auth/register", method="POST", headers={
        "Content-Type": "application/json"}, data=json.dumps({"email": "fuzz@example.com",
                                                                "password": API_PASSWORD}).encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["token"]


def _schemathesis(base: str, token: str, tmp_path: Path, *selection: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCHEMATHESIS), "run", f"{base}/openapi.json", "--checks", CHECKS, "-H", f"Authorization: Bearer {token}",
         "--max-examples", EXAMPLES, "--generation-deterministic", "--workers", "1",
         "--phases", "examples,coverage,fuzzing", "--request-timeout", "60", "--no-color",
         *selection],
        cwd=tmp_path, capture_output=True, text=True, timeout=1500)


@pytest.mark.skipif(not SCHEMATHESIS.exists() and not shutil.which("schemathesis"), reason="needs schemathesis")
def test_every_operation_survives_schemathesis(service, tmp_path):
    token = _token(service)
    done = _schemathesis(service, token, tmp_path, "--exclude-operation-id", "post_auth_logout")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    done = _schemathesis(service, token, tmp_path, "--include-operation-id", "post_auth_logout")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
