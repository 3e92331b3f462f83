"""SMS command parsing: the first word names a command, anything else is a chat message."""

from __future__ import annotations

from dataclasses import dataclass

# Carrier opt-out and opt-in keywords (the set Twilio recognises on long codes).
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO", "COMMANDS"})
# Commands that are the whole message: "clear the cache in my script" stays a chat message.
SINGLE_WORD = {"CLEAR": "clear", "UNLINK": "unlink", "MORE": "more", "MODEL": "model", "UNDO": "undo"}
# Commands with a fixed number of arguments; with another count they are chat (or usage help when unlinked).
WITH_ARGS = {"REGISTER": ("register", 2), "LINK": ("link", 2), "KEY": ("key", 1), "MODEL": ("model", 1)}
USAGE = {
    "register": "To create an account, text: REGISTER <email> <password>",
    "link": "To link this phone to your account, text: LINK <email> <password>",
    "key": "To save your Gemini API key, text: KEY <your-key>",
}


@dataclass(frozen=True)
class Command:
    """A parsed SMS: `name` is a command name or "chat"; `args` its arguments; `text` the whole body."""

    name: str
    args: tuple[str, ...] = ()
    text: str = ""
    usage_for: str | None = None  # set when the command word came with the wrong number of arguments


def parse_command(body: str) -> Command:
    """Parse an SMS body (first word in any case) into a Command."""
    text = body.strip()
    words = text.split()
    if not words:
        return Command("empty")
    first = words[0].upper().rstrip(".!")
    rest = tuple(words[1:])
    if len(words) == 1 or (first == "STOP" and [w.upper() for w in rest] == ["ALL"]):
        if first in STOP_WORDS:
            return Command("stop", text=text)
        if first in START_WORDS:
            return Command("start", text=text)
        if first in HELP_WORDS:
            return Command("help", text=text)
        if first in SINGLE_WORD:
            return Command(SINGLE_WORD[first], text=text)
    if first in WITH_ARGS:
        name, count = WITH_ARGS[first]
        if len(rest) == count:
            return Command(name, rest, text)
        return Command("chat", text=text, usage_for=name)
    return Command("chat", text=text)


def redact(command: Command) -> str:
    """A log-safe description of a message: never a password, key or chat content."""
    if command.name in {"register", "link"}:
        return f"{command.name.upper()} {mask_email(command.args[0])} <password redacted>"
    if command.name == "key":
        return "KEY <key redacted>"
    if command.name == "chat":
        return f"chat <{len(command.text)} chars redacted>"
    return command.name.upper()


def mask_email(email: str) -> str:
    """'alice@example.com' -> 'a***@example.com', for logs and replies."""
    local, at, domain = email.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str) -> str:
    """'+15551234567' -> '+1555***4567', for logs."""
    return phone[:5] + "***" + phone[-4:] if len(phone) > 9 else "***"
