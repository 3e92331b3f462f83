"""The API client of the command line: base URL and token, one request helper, errors as one sentence."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT = httpx.Timeout(30.0, read=600.0)  # a chat turn may think and run code for minutes


class CliError(Exception):
    """A failure to show as one sentence; the command exits with status 1."""


def config_file() -> Path:
    """Where `delta3 login` keeps the token: $XDG_CONFIG_HOME/delta3/credentials.json (mode 0600)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "delta3" / "credentials.json"


def save_credentials(url: str, token: str) -> Path:
    """Store the URL and token readable by this user only (the file is created 0600, never widened)."""
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"url": url, "token": token}, out)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def load_credentials() -> dict[str, str]:
    """What `delta3 login` saved, or {}."""
    try:
        return json.loads(config_file().read_text())
    except (OSError, ValueError):
        return {}


def forget_credentials() -> None:
    """Delete the saved token."""
    config_file().unlink(missing_ok=True)


class Api:
    """DELTA3_URL and DELTA3_TOKEN (the environment wins over `delta3 login`'s file)."""

    def __init__(self, url: str | None = None, token: str | None = None):
        saved = load_credentials()
        self.url = (url or os.environ.get("DELTA3_URL") or saved.get("url") or DEFAULT_URL).rstrip("/")
        self.token = token or os.environ.get("DELTA3_TOKEN") or saved.get("token")
        self.http = httpx.Client(base_url=self.url, timeout=TIMEOUT)

    def _headers(self, auth: bool, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if auth:
            if not self.token:
                raise CliError("You are not logged in: run `delta3 login`, or set DELTA3_TOKEN.")
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def call(self, method: str, path: str, auth: bool = True, headers: dict[str, str] | None = None,
             **kwargs: Any) -> httpx.Response:
        """One request; CliError (one sentence) for a problem answer or an unreachable server."""
        try:
            response = self.http.request(method, path, headers=self._headers(auth, headers), **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"Cannot reach DELTA3 at {self.url} ({type(exc).__name__}); is DELTA3_URL right?") from None
        check(response, login_hint=auth)
        return response

    def stream_events(self, path: str, body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        """POST and read server-sent events as (event name, data) while they arrive."""
        headers = self._headers(True, {"Accept": "text/event-stream"})
        try:
            with self.http.stream("POST", path, json=body, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    check(response)
                name, data = "message", []
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line and data:
                        yield name, json.loads("\n".join(data))
                        name, data = "message", []
        except httpx.HTTPError as exc:
            raise CliError(f"The connection to {self.url} broke ({type(exc).__name__}); "
                           "see `delta3 history` for what was saved.") from None


def check(response: httpx.Response, login_hint: bool = True) -> None:
    """Raise CliError with the problem's sentence for an error answer (401: say how to log in again)."""
    if response.status_code < 400:
        return
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    if response.status_code == 401 and detail and login_hint:
        detail += " (run `delta3 login`)"
    raise CliError(detail or f"The server answered {response.status_code} {response.reason_phrase}.")
