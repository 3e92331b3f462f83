"""SMS messages as durable turn jobs: run, resume after a crash, and send each answer exactly once."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

from twilio.base.exceptions import TwilioException

from .. import accounts
from ..turns.jobs import JobRecord
from ..turns.resume import STALE_TEXT, ProgressRecorder, interrupted_answer, saved_answer
from ..turns.runner import INTERRUPTED, Lease, RetryLater
from .commands import parse_command, redact
from .handlers import SmsReply, chat_reply, is_opted_out

log = logging.getLogger("delta3.sms")

CHANNEL = "sms"
SECRET_COMMANDS = ("register", "link", "key")


def job_id_for(sid: str) -> str:
    """The job id of an SMS: its MessageSid, so a Twilio retry finds the job it already made."""
    return f"sms-{sid}"


def new_job(sid: str, phone: str, to: str, body: str) -> JobRecord:
    """A pending job for one accepted SMS; its lane keeps this phone's messages in order."""
    return JobRecord.new(job_id_for(sid), CHANNEL, f"sms:{phone}", body,
                         address={"sid": sid, "phone": phone, "to": to})


class SmsJobs:
    """The turn runner's handler for SMS jobs (see delta3_core/turns/runner.py)."""

    def __init__(self, channel):
        self.channel = channel
        self.services = channel.services

    def run(self, lease: Lease) -> dict:
        """Run the command or chat; a chat records its progress before each tool call."""
        job = lease.job
        command = parse_command(job.text)
        observe = _progress_recorder(lease) if command.name == "chat" else None
        reply = asdict(self.channel.process(_phone(job), command, observe))
        if command.name in SECRET_COMMANDS:  # the password or key leaves the store with the answer's arrival
            lease.save(reply=reply, text=redact(command))
        return reply

    def resume(self, lease: Lease) -> dict | None:
        """A chat cut off by a crash: its saved answer, or what it did before a tool call; None: run again."""
        job = lease.job
        if parse_command(job.text).name != "chat":
            return None  # commands are quick and make no model calls: run again
        user = accounts.user_for_phone(self.services.backend, _phone(job))
        if user is None:
            return None
        from ..agent import Reply

        saved = saved_answer(self.services, user.user_id, job, CHANNEL)
        if saved is not None:
            reply = Reply(text=saved.content, images=list(saved.meta.get("images") or []))
            return asdict(chat_reply(self.services, _phone(job), user, reply))
        answer = interrupted_answer(self.services, user.user_id, job, CHANNEL)
        if answer is None:
            return None  # no tool had started: nothing was changed, so running it again is safe
        lease.save(note=INTERRUPTED)
        return asdict(chat_reply(self.services, _phone(job), user, Reply(text=answer)))

    def stale(self, job: JobRecord) -> dict:
        """Too late to answer: ask for the message again."""
        return asdict(SmsReply.text(STALE_TEXT))

    def deliver(self, lease: Lease, reply: dict) -> None:
        """Send each message once: an intent is recorded before it goes and the sid after; a send cut
        short by a crash is looked up at Twilio before it is tried again."""
        from .sender import find_sent, send_one

        job = lease.job
        messages, media = reply.get("messages") or [], reply.get("media") or []
        phone = _phone(job)
        if not messages or is_opted_out(self.services, phone):
            return
        client = self.channel._twilio()
        from_ = job.address.get("to") or self.services.settings.twilio_phone_number
        try:
            for index, body in enumerate(messages):
                entry = dict(job.outbox.get(str(index)) or {})
                if entry.get("sid"):
                    continue
                if entry.get("intent"):
                    found = find_sent(client, phone, from_, body, entry["intent"])
                    if found:
                        lease.save(outbox={**job.outbox, str(index): {**entry, "sid": found}})
                        continue
                entry["intent"] = time.time()
                lease.save(outbox={**job.outbox, str(index): entry})
                sid = send_one(client, phone, from_, body, media if index == 0 else ())
                lease.save(outbox={**job.outbox, str(index): {**entry, "sid": sid or "refused"}})
                if sid is None:
                    return  # refused for good (opted out...): the rest would be too
        except (TwilioException, OSError) as error:
            raise RetryLater(f"Twilio could not be reached ({type(error).__name__})") from None
        log.info("sms %s: answer sent (%d messages)", job.address.get("sid"), len(messages))


def _phone(job: JobRecord) -> str:
    return job.address["phone"]


def _progress_recorder(lease: Lease):
    """An observer of the agent's events that records progress in the job before each tool runs."""
    from ..agent import TextDelta, ToolFinished, ToolStarted

    recorder = ProgressRecorder(lease)

    def observe(event) -> None:
        if isinstance(event, TextDelta):
            recorder.text(event.text)
        elif isinstance(event, ToolStarted):
            recorder.tool_started(event.name)
        elif isinstance(event, ToolFinished):
            recorder.tool_finished()

    return observe
