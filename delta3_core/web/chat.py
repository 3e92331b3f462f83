"""Chat rendering for the web page: history bubbles, a live streamed answer, tool calls as they run."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import streamlit as st

from ..errors import Delta3Error
from ..storage.base import Message
from ..workspace import IMAGE_EXTENSIONS, Workspace, validate_path
from .auth import plain

UPLOAD_DIR = "uploads"
_CURSOR = " ▌"
# One-click first messages on an empty chat: what DELTA3 is good at.
STARTERS = ("Create a calculator module and test it", "Plot sin and cos with matplotlib",
            "Which Python packages can you use?")
AVATARS = {"user": ":material/person:", "assistant": ":material/smart_toy:"}


# ---------------------------------------------------------------- pure helpers

def format_usage(usage: dict[str, Any] | None) -> str:
    """'1,234 tokens in · 56 out (40 thinking)' from an answer's usage, or '' when unknown."""
    if not usage:
        return ""
    tokens_in = usage.get("tokens_in", usage.get("prompt_tokens", usage.get("input_tokens")))
    tokens_out = usage.get("tokens_out", usage.get("output_tokens", usage.get("candidates_tokens")))
    if not tokens_in and not tokens_out:  # unknown, or a turn that failed before Gemini answered
        return ""
    thinking = int(usage.get("thinking_tokens") or 0)  # part of "out": thinking is billed as output
    return f"{int(tokens_in or 0):,} tokens in · {int(tokens_out or 0):,} out" + (
        f" ({thinking:,} thinking)" if thinking else "")


def group_turns(messages: Iterable[Message]) -> list[tuple[str, list[Message]]]:
    """Group history into bubbles: each user message alone, tool calls and answers together."""
    groups: list[tuple[str, list[Message]]] = []
    for message in messages:
        speaker = "user" if message.role == "user" else "assistant"
        if speaker == "assistant" and groups and groups[-1][0] == "assistant":
            groups[-1][1].append(message)
        else:
            groups.append((speaker, [message]))
    return groups


def tool_source(name: str, args: dict[str, Any] | None) -> tuple[str, str]:
    """What a tool call runs or touches, and its code language, for display."""
    args = args or {}
    if "code" in args:
        return str(args["code"]), "python"
    if "command" in args:
        return str(args["command"]), "bash"
    if "content" in args:
        return f"# {args.get('path', '')}\n{args['content']}", _language_for(str(args.get("path", "")))
    return ", ".join(f"{k}={v}" for k, v in args.items()) or name, "text"


def _language_for(path: str) -> str:
    ext = posixpath.splitext(path)[1].lower()
    return {".py": "python", ".sh": "bash", ".js": "javascript", ".json": "json", ".md": "markdown",
            ".html": "html", ".css": "css", ".sql": "sql", ".yaml": "yaml", ".yml": "yaml"}.get(ext, "text")


# What each tool does, for people: (while running, when done) and what it acted on.
_TOOL_VERBS = {"execute_python": ("Running", "Ran"), "execute_shell": ("Running", "Ran"),
               "write_file": ("Writing", "Wrote"), "read_file": ("Reading", "Read"),
               "list_files": ("Listing", "Listed"), "delete_file": ("Deleting", "Deleted")}


def _tool_object(name: str, args: dict[str, Any]) -> str:
    if name == "execute_python":
        return "Python code"
    if name == "execute_shell":
        lines = str(args.get("command", "")).strip().splitlines() or ["a command"]
        line = lines[0] if len(lines[0]) <= 60 else lines[0][:59] + "…"
        line += " …" if len(lines) > 1 else ""
        return f"`{line}`" if "`" not in line else plain(line)
    if name == "list_files":
        return "files in " + plain(str(args.get("path") or ".")) if args.get("path") not in (None, "", ".") else "files"
    path = args.get("path")
    return plain(str(path)) if path else name


def tool_label(name: str, args: dict[str, Any] | None, state: str) -> str:
    """A status title for people: 'Running Python code…', 'Wrote calculator.py', 'Reading a.py failed'."""
    doing, done = _TOOL_VERBS.get(name, ("Running", "Ran"))
    what = _tool_object(name, args or {})
    return {"running": f"{doing} {what}…", "ok": f"{done} {what}", "failed": f"{doing} {what} failed"}[state]


def attachment_path(ws: Workspace, name: str) -> str:
    """A free workspace path under uploads/ for an attached file (never overwrites)."""
    base = posixpath.basename(name.replace("\\", "/")) or "attachment"
    stem, ext = posixpath.splitext(base)
    candidate, n = validate_path(f"{UPLOAD_DIR}/{base}"), 1
    while ws.exists(candidate):
        n += 1
        candidate = validate_path(f"{UPLOAD_DIR}/{stem} ({n}){ext}")
    return candidate


def save_attachments(ws: Workspace, files: Iterable[Any]) -> list[str]:
    """Save uploaded files into the workspace; return their paths (to mention to the model)."""
    paths = []
    for upload in files:
        path = attachment_path(ws, upload.name)
        ws.write_bytes(path, upload.getvalue())
        paths.append(path)
    return paths


# ---------------------------------------------------------------- rendering

def show_images(ws: Workspace, paths: Iterable[str]) -> None:
    """Show images from the workspace inline (missing ones are skipped quietly)."""
    for path in paths:
        if not path.lower().endswith(IMAGE_EXTENSIONS):
            continue
        try:
            data = ws.read_bytes(path)
        except Delta3Error:
            continue
        st.image(data.decode("utf-8", "replace") if path.lower().endswith(".svg") else data, caption=path)


def show_thoughts(text: str) -> Any:
    """The model's thought summary, folded away under "Thinking"; returns the box to grow it live."""
    box = st.expander("Thinking", icon=":material/psychology:", expanded=False).empty()
    box.markdown(text)
    return box


def _show_tool(message: Message) -> None:
    meta = message.meta or {}
    name = meta.get("name") or meta.get("tool") or "tool"
    args = meta.get("args") or {}
    ok = meta.get("ok", True)
    # An expander looks like the live st.status box but costs nothing: st.status sleeps 50 ms per box.
    icon = ":material/check:" if ok else ":material/error:"
    with st.expander(tool_label(name, args, "ok" if ok else "failed"), icon=icon, expanded=False):
        source, language = tool_source(name, args)
        st.code(source, language=language)
        if message.content:
            st.code(message.content, language="text")


def interleave(tools: list[Message], text: str) -> list[Message | str]:
    """Tool calls and answer text in the order they happened (by each call's offset 'at' in the text)."""
    offsets = [(m.meta or {}).get("at") for m in tools]
    if not all(isinstance(at, int) and 0 <= at <= len(text) for at in offsets):
        return [*tools, text]  # older history without offsets: the calls, then the answer
    pieces: list[Message | str] = []
    start = 0
    for tool, at in sorted(zip(tools, offsets, strict=True), key=lambda pair: pair[1]):
        pieces += [text[start:at], tool]
        start = max(start, at)
    return [*pieces, text[start:]]


def split_error(content: str, meta: dict[str, Any]) -> tuple[str, str]:
    """An answer that ended in an error: (the text shown before it, the error sentence); else (content, '')."""
    if not meta.get("error"):
        return content, ""
    text, _, problem = content.rpartition("\n\n")
    return text, problem


def render_history(ws: Workspace, messages: Iterable[Message],
                   on_checkpoint: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Draw the conversation as chat bubbles; `on_checkpoint` draws a turn's file changes (undo)."""
    for speaker, group in group_turns(messages):
        with st.chat_message(speaker, avatar=AVATARS[speaker]):
            tools: list[Message] = []
            for message in group:
                if message.role == "tool":
                    tools.append(message)
                    continue
                meta = message.meta or {}
                if meta.get("thoughts"):
                    show_thoughts(meta["thoughts"])
                text, problem = split_error(message.content, meta)
                for piece in interleave(tools, text) if message.role == "assistant" else [text]:
                    if isinstance(piece, Message):
                        _show_tool(piece)
                    elif piece.strip():
                        st.markdown(piece.strip())
                if problem:
                    st.error(plain(problem))
                tools = []
                if meta.get("attachments"):
                    st.caption("Attached: " + ", ".join(meta["attachments"]))
                show_images(ws, meta.get("images") or ())
                if usage := format_usage(meta.get("usage")):
                    st.caption(usage)
                if on_checkpoint and meta.get("checkpoint"):
                    on_checkpoint(meta["checkpoint"])
            for tool in tools:  # calls of a turn that ended without an answer
                _show_tool(tool)


class _LiveText:
    """A text block that grows as deltas arrive; a new one starts after each tool call."""

    def __init__(self) -> None:
        self.box = None
        self.text = ""

    def add(self, delta: str) -> None:
        if self.box is None:
            self.box = st.empty()
        self.text += delta
        self.box.markdown(self.text + _CURSOR)

    def close(self) -> str:
        if self.box is not None:
            self.box.markdown(self.text)
        text, self.box, self.text = self.text, None, ""
        return text


def stream_answer(ws: Workspace, events: Iterator[Any], after: Callable[[], None] | None = None) -> None:
    """Draw an answer live: text as it streams, each tool call in a status box, then images and usage.

    `after` draws more in the answer's bubble once the turn is saved (its changed files, for undo).
    """
    from ..agent.events import ErrorEvent, Final, TextDelta, ThoughtDelta, ToolFinished, ToolStarted

    live, running, shown_text, made = _LiveText(), {}, "", []
    thoughts, thought_box = "", None
    with st.chat_message("assistant", avatar=AVATARS["assistant"]):
        try:
            for event in events:
                if isinstance(event, TextDelta):
                    live.add(event.text)
                elif isinstance(event, ThoughtDelta):
                    thoughts += event.text
                    if thought_box is None:  # one folded box per answer, made where the thinking began
                        thought_box = show_thoughts(thoughts)
                    else:
                        thought_box.markdown(thoughts)
                elif isinstance(event, ToolStarted):
                    shown_text += live.close()
                    status = st.status(tool_label(event.name, event.args, "running"), expanded=True)
                    source, language = tool_source(event.name, event.args)
                    status.code(source, language=language)
                    running[event.call_id] = (status, event.args)
                elif isinstance(event, ToolFinished):
                    status, args = running.pop(event.call_id, (None, {}))
                    status = status or st.status(event.name)
                    status.code(event.result or "(no output)", language="text")
                    status.update(label=tool_label(event.name, args, "ok" if event.ok else "failed"),
                                  state="complete" if event.ok else "error", expanded=False)
                    made += [p for p in event.images if p not in made]  # shown with the answer, not folded away
                elif isinstance(event, Final):
                    shown_text += live.close()
                    if event.text and not shown_text.strip():
                        st.markdown(event.text)
                    show_images(ws, made + [p for p in event.images if p not in made])
                    if usage := format_usage(event.usage):
                        st.caption(usage)
                elif isinstance(event, ErrorEvent):
                    live.close()
                    show_images(ws, made)
                    st.error(plain(event.message))
            if after is not None:
                after()
        except Delta3Error as error:
            live.close()
            st.error(plain(str(error)))
        finally:
            # A reload or a new message stops this script mid-answer: close the turn now, so the agent saves
            # what was done (the question included) at once instead of whenever the generator is collected.
            close = getattr(events, "close", None)
            if close is not None:
                close()
