"""What a resumed chat job can know: the answer its turn saved, or how far it got before a crash."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import history
from ..storage.base import Message
from .jobs import JobRecord

if TYPE_CHECKING:
    from delta3_core.services import Services

STALE_TEXT = "Sorry, that message was interrupted; please send it again."
INTERRUPTED_NOTE = ("(This run was interrupted when our service restarted{tool}; what is above is all it did. "
                    "Check your files, and send the message again if you need more.)")


def saved_answer(services: Services, user_id: str, job: JobRecord, channel: str) -> Message | None:
    """The answer a previous attempt saved to history (a turn saves itself before the job keeps its reply)."""
    messages = history.context(services.backend, user_id)
    for index, message in enumerate(messages[:-1]):
        if (message.role == "user" and message.content == job.text and message.channel == channel
                and message.created_at >= (job.started_at or job.received_at) - 1):
            after = [m for m in messages[index + 1:] if m.role == "assistant"]
            if after:
                return after[0]
    return None


def interrupted_answer(services: Services, user_id: str, job: JobRecord, channel: str) -> str | None:
    """For a job whose tools had started when its worker died: the text so far and a note saying so,
    saved to history as the turn; None when no tool had started (running the turn again is safe)."""
    progress = job.progress
    if not progress.get("tools"):
        return None
    tool = progress.get("in_flight")
    text = (progress.get("text") or "").strip()
    note = INTERRUPTED_NOTE.format(tool=f" while it was running {tool}" if tool else "")
    answer = f"{text}\n\n{note}" if text else note
    history.append(services.backend, user_id, [
        Message("user", job.text, channel, meta={"job": job.job_id}),
        Message("assistant", answer, channel, meta={"interrupted": True, "tools": progress["tools"]})])
    return answer


class ProgressRecorder:
    """Records a running turn's text and tools in its job before each tool runs (a tool may have side effects)."""

    def __init__(self, lease):
        self.lease = lease
        self._text: list[str] = []
        self._tools: list[str] = []

    def text(self, piece: str) -> None:
        """Streamed answer text (kept in memory; written with the next tool)."""
        self._text.append(piece)

    def tool_started(self, name: str) -> None:
        """A tool is about to run: write that down first."""
        self._tools.append(name)
        self.lease.note_progress(text="".join(self._text), tools=list(self._tools), in_flight=name)

    def tool_finished(self) -> None:
        """The tool ended."""
        self.lease.note_progress(text="".join(self._text), in_flight=None)
