"""The `delta3` subcommands: each parses nothing itself, calls the API once or twice and prints the result."""

from __future__ import annotations

import base64
import getpass
import os
import sys
from pathlib import Path

from .client import Api, CliError, forget_credentials, save_credentials


def _out(text: str = "", end: str = "\n") -> None:
    sys.stdout.write(text + end)
    sys.stdout.flush()


def _note(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def login(api: Api, args) -> None:
    """Log in with email and password; keep the session token in a 0600 file."""
    email = args.email or input("Email: ")
    password = os.environ.get("DELTA3_PASSWORD") or getpass.getpass("Password: ")
    session = api.call("POST", "/auth/login", auth=False, json={"email": email, "password": password}).json()
    path = save_credentials(api.url, session["token"])
    _out(f"Logged in as {session['user']['email']} at {api.url} (token saved in {path}).")


def logout(api: Api, args) -> None:
    """End the saved session on the server and forget it here."""
    api.call("POST", "/auth/logout")
    forget_credentials()
    _out("Logged out.")


def chat(api: Api, args) -> None:
    """Send one message; stream the answer, showing each tool call as it runs."""
    message = " ".join(args.message) if args.message else sys.stdin.read()
    final, at_line_start = None, True
    for name, data in api.stream_events("/chat/send", {"message": message}):
        if name == "text":
            _out(data["text"], end="")
            at_line_start = data["text"].endswith("\n")
        elif name in ("tool_started", "tool_finished", "error") and not at_line_start:
            _out()
            at_line_start = True
        if name == "tool_started":
            _note(f"▶ {data['name']} {_brief(data['arguments'])}")
        elif name == "tool_finished":
            _note(("✓ " if data["ok"] else "✗ ") + _indent(data["output"]))
        elif name == "error":
            _note(f"Error: {data['message']}")
        elif name == "final":
            final = data
    if not at_line_start:
        _out()
    if final is None:
        raise CliError("The answer ended early; see `delta3 history` for what was saved.")
    if final.get("files_changed"):
        _note("Files changed: " + ", ".join(final["files_changed"]))
    usage = final.get("usage") or {}
    if usage.get("total_tokens"):
        _note(f"{usage['tokens_in']:,} tokens in · {usage['tokens_out']:,} out")
    if final.get("error"):
        raise SystemExit(1)


def _brief(arguments: dict) -> str:
    shown = arguments.get("path") or arguments.get("command") or arguments.get("code") or ""
    first = str(shown).strip().splitlines()[0] if str(shown).strip() else ""
    return first if len(first) <= 70 else first[:69] + "…"


def _indent(text: str, lines: int = 12) -> str:
    kept = (text or "(no output)").rstrip().splitlines()
    more = f"\n  … {len(kept) - lines} more lines" if len(kept) > lines else ""
    return "\n  ".join(kept[:lines]) + more


def history(api: Api, args) -> None:
    """Print the newest messages of the conversation."""
    page = api.call("GET", "/chat/history", params={"limit": args.limit}).json()
    for message in page["messages"]:
        if message["role"] == "tool":
            meta = message.get("meta") or {}
            _out(f"  [{meta.get('name', 'tool')}] {message['content'][:200]}")
        else:
            _out(f"{message['role']} ({message['channel']}, {message['created_at']}):\n{message['content']}\n")


def undo(api: Api, args) -> None:
    """Revert the file changes of the newest turn not undone yet; say what was restored and kept."""
    _out(api.call("POST", "/chat/undo").json()["message"])


def files_ls(api: Api, args) -> None:
    """List files with their sizes, and the quota used."""
    listing = api.call("GET", "/files/list", params={"path": args.path}).json()
    for entry in listing["files"]:
        _out(f"{'-' if entry['is_dir'] else entry['size']:>10}  {entry['modified']}  "
             f"{entry['path']}{'/' if entry['is_dir'] else ''}")
    _out(f"{listing['used_bytes']:,} of {listing['quota_bytes']:,} bytes used")


def files_get(api: Api, args) -> None:
    """Download a file (to --output, or to stdout with -o -)."""
    response = api.call("GET", "/files/download", params={"path": args.path})
    if args.output == "-":
        sys.stdout.buffer.write(response.content)
        return
    target = Path(args.output or Path(args.path).name)
    target.write_bytes(response.content)
    _out(f"Saved {args.path} to {target} ({len(response.content):,} bytes).")


def files_put(api: Api, args) -> None:
    """Upload a local file to a workspace path (default: its own name)."""
    try:
        data = Path(args.local).read_bytes()
    except OSError as exc:
        raise CliError(f"Cannot read {args.local}: {exc.strerror}.") from None
    remote = args.remote or Path(args.local).name
    written = api.call("POST", "/files/write", json={"path": remote, "content": base64.b64encode(data).decode(),
                                                     "encoding": "base64"}).json()
    _out(f"Saved {written['path']} ({written['size']:,} bytes).")


def files_rm(api: Api, args) -> None:
    """Delete a file or folder."""
    api.call("POST", "/files/delete", json={"path": args.path})
    _out(f"Deleted {args.path}.")


def token_create(api: Api, args) -> None:
    """Create a personal access token and print it (shown this once)."""
    body = {"name": args.name, **({"expires_in_days": args.days} if args.days else {})}
    created = api.call("POST", "/auth/tokens", json=body).json()
    _note(f"Token {created['id']} ({created['name']}), expires {created['expires_at'] or 'never'}. "
          "Store it now: it is not shown again.")
    _out(created["token"])


def token_ls(api: Api, args) -> None:
    """List personal access tokens (without their secrets)."""
    tokens = api.call("GET", "/auth/tokens").json()["tokens"]
    for token in tokens:
        _out(f"{token['id']}  {token['name']:<24}  created {token['created_at']}  "
             f"expires {token['expires_at'] or 'never'}")
    if not tokens:
        _out("No personal access tokens.")


def token_revoke(api: Api, args) -> None:
    """Revoke a personal access token by id."""
    api.call("DELETE", f"/auth/tokens/{args.id}")
    _out(f"Revoked token {args.id}.")
