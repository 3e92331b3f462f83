"""What the model sees: a system instruction (tools, channel, workspace) and the recent history."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from google.genai import types

from ..storage.base import Message
from ..tools import TOOLS

if TYPE_CHECKING:
    from delta3_core.config import Settings

RECORD_ARG_CHARS = 200  # per argument, in the compact tool records kept in history
RECORD_RESULT_CHARS = 500
EARLIER_NOTE = "(Earlier messages of this conversation are not shown.)"

_BASE = """You are DELTA3, a coding assistant. You write, run and fix code for the user in their own \
persistent workspace: files you create stay there between messages and across the web and SMS channels.

Tools: write_file(path, content), read_file(path), list_files(path="."), delete_file(path), \
execute_python(code), execute_shell(command). Paths are relative to the workspace root. Code runs in a \
sandbox in the workspace folder, with time and memory limits. Run code to check it rather than guessing its \
output, read a file before changing it, and report real results. The user can undo the file changes \
of any of your turns (an undo button on the web, UNDO by SMS), so make the edits they ask for without \
holding back for fear of losing their work. Earlier tool calls appear in the \
conversation as "[tool call]" notes: they are records, not something to repeat.

Runtime: Python 3 with numpy, pandas, scipy, sympy, matplotlib, requests, pillow, beautifulsoup4, openpyxl \
and lxml; Node.js with npm. You may install more packages: `pip install <pkg>` and `npm install -g <pkg>` \
(from execute_shell) put them in the workspace's hidden .delta3 folder, where later runs find them; they \
count against the user's storage quota, so install only what the task needs."""
_NETWORK = {
    False: "Code runs without network access, except pip and npm reaching the package registries: "
           "nothing else can be downloaded.",
    True: "You have network access in code runs: downloads and package installs work.",
}

_CHANNELS = {
    "web": "The user is on the web app, which renders Markdown: put code in fenced blocks.",
    "sms": "The user is on SMS: answer in short plain text (no Markdown, no code blocks unless asked), "
           "a few sentences at most; put long code in files instead of the reply.",
    "api": "The user is on the REST API (a script, an editor or the delta3 command line); answer in Markdown "
           "and put code in fenced blocks.",
}


def code_has_network(settings: Settings) -> bool:
    """True when code runs can reach the network: the sandbox allows it, or there is no sandbox to stop it."""
    # The executor Lambda runs code without a network namespace of its own.
    return bool(settings.sandbox_network or settings.unsafe_no_sandbox or settings.executor == "lambda")


def system_instruction(channel: str, workspace_listing: str, network: bool = False) -> str:
    """The system instruction for one turn on `channel`, with the current workspace listing."""
    channel_note = _CHANNELS.get(channel, _CHANNELS["web"])
    return f"{_BASE} {_NETWORK[network]}\n\n{channel_note}\n\nThe workspace now:\n{workspace_listing}"


def history_contents(messages: Iterable[Message]) -> list[types.Content]:
    """Stored messages as model contents; tool records become compact text notes so follow-ups work."""
    contents: list[types.Content] = []
    for message in messages:
        if message.role == "assistant" and message.meta.get("error"):
            continue  # an error notice we showed the user is not something the model said
        if message.role == "tool":
            role, text = "model", tool_record_text(message)
        else:
            role, text = ("user" if message.role == "user" else "model"), message.content
            if message.meta.get("attachments"):
                text += "\n(Attached, saved in the workspace: " + ", ".join(message.meta["attachments"]) + ")"
        if not text:
            continue
        if contents and contents[-1].role == role:  # same speaker twice in a row: one turn with two parts
            contents[-1].parts.append(types.Part(text=text))
        else:
            contents.append(types.Content(role=role, parts=[types.Part(text=text)]))
    if contents and contents[0].role == "model":  # the window began mid-turn; Gemini wants the user first
        contents.insert(0, types.Content(role="user", parts=[types.Part(text=EARLIER_NOTE)]))
    return contents


def tool_record(name: str, args: Any, ok: bool, result: str, call_id: str, channel: str) -> Message:
    """The compact history entry for one tool call: short arguments and a short result."""
    short_args = {k: _short(v if isinstance(v, str) else json.dumps(v), RECORD_ARG_CHARS)
                  for k, v in args.items()} if isinstance(args, dict) else {}
    return Message(role="tool", content=_short(result, RECORD_RESULT_CHARS), channel=channel,
                   meta={"tool": name, "args": short_args, "ok": ok, "call_id": call_id})


def tool_record_text(message: Message) -> str:
    """A tool record as the one line the model reads, e.g. '[tool call] read_file(path="a.py") -> ok: ...'."""
    meta = message.meta
    stored = meta.get("args") or {}
    tool = TOOLS.get(meta.get("tool", ""))
    order = list(tool.params) if tool else []  # storage may reorder keys; show them as declared
    names = sorted(stored, key=lambda k: order.index(k) if k in order else len(order))
    args = ", ".join(f"{k}={json.dumps(stored[k])}" for k in names)
    outcome = "ok" if meta.get("ok") else "error"
    return f"[tool call] {meta.get('tool', '?')}({args}) -> {outcome}: {message.content}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
