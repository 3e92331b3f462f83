"""The SMS channel: admit a Twilio message (once, within limits) as a durable job; reply now or later."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .. import accounts, store_keys
from ..errors import Delta3Error, ValidationError
from ..turns.host import TurnHost
from ..turns.jobs import JobRecord, LeaseLost
from ..turns.workers import finish_inline
from .commands import Command, mask_phone, parse_command, redact
from .durable import CHANNEL, job_id_for, new_job
from .handlers import SmsReply, is_opted_out, run_command

if TYPE_CHECKING:
    from delta3_core.services import Services

log = logging.getLogger("delta3.sms")

__all__ = ["Inbound", "SmsChannel", "SmsReply", "admit", "read_inbound", "to_twiml"]

MAX_BODY_CHARS = 1600  # what one SMS (concatenated) can carry; anything longer did not come from a phone
SEEN_TTL_S = 3 * 24 * 3600  # Twilio retries for hours at most; a replay days later is still refused
RATE_WINDOW_S = 60
BUSY_TEXT = "DELTA3 is very busy right now. Please try again in a minute."
PICTURE_TEXT = "I can only read text for now; please describe the picture in words."
SORRY_TEXT = "Sorry, something went wrong on our side. Please try again in a minute."


@dataclass(frozen=True)
class Inbound:
    """One message as Twilio delivered it; `phone` is the sender in E.164 form."""

    sid: str
    phone: str
    to: str
    body: str
    num_media: int = 0


def read_inbound(form: Mapping[str, str]) -> Inbound:
    """Take the fields we need from Twilio's form; ValidationError names a missing one."""
    for name in ("MessageSid", "From"):
        if not (form.get(name) or "").strip():
            raise ValidationError(f"The request has no {name} field.")
    try:
        num_media = int(form.get("NumMedia") or 0)
    except ValueError:
        num_media = 0
    return Inbound(sid=form["MessageSid"].strip(), phone=form["From"].strip(), to=(form.get("To") or "").strip(),
                   body=form.get("Body") or "", num_media=num_media)


def admit(services: Services, inbound: Inbound, command: Command) -> SmsReply | None:
    """Checks before any work: a reply to give at once (empty means silence), or None to accept the message.

    A message answered here is claimed by its MessageSid, so a replay stays silent; one that goes on is
    claimed together with its job (`SmsChannel.accept`). A store failure raises StorageError, with nothing
    claimed, so that Twilio's retry or fallback URL can deliver the message again.
    """
    records = services.backend.records
    settings = services.settings
    try:
        phone = accounts.normalize_phone(inbound.phone)
    except ValidationError:
        return _once(records, inbound, SmsReply.text("DELTA3 answers text messages from phone numbers only."))
    carrier_keyword = command.name in ("stop", "start")
    if is_opted_out(services, phone) and not carrier_keyword:
        return SmsReply()  # opted out: say nothing until START
    if carrier_keyword:
        return None  # opting in or out must always work, whatever the limits
    count = records.incr_counter(store_keys.sms_rate_phone(phone), RATE_WINDOW_S)
    if count > settings.sms_rate_per_phone:
        # Only the first refusal is answered: replying to every message of a flood would be a flood too.
        if count == settings.sms_rate_per_phone + 1:
            return _once(records, inbound, SmsReply.text(
                f"You are sending messages faster than I can answer (limit {settings.sms_rate_per_phone} "
                "a minute). Please wait a minute and try again."))
        return SmsReply()
    if records.incr_counter(store_keys.sms_rate_global(), RATE_WINDOW_S) > settings.sms_rate_global:
        if records.claim(store_keys.sms_busy(phone), RATE_WINDOW_S):
            return _once(records, inbound, SmsReply.text(BUSY_TEXT))
        return SmsReply()
    if len(inbound.body) > MAX_BODY_CHARS:
        return _once(records, inbound, SmsReply.text(f"That message is too long ({len(inbound.body)} characters). "
                                                     f"Please keep it under {MAX_BODY_CHARS}."))
    if command.name == "empty" and inbound.num_media:
        return _once(records, inbound, SmsReply.text(PICTURE_TEXT))
    return None


def _once(records, inbound: Inbound, reply: SmsReply) -> SmsReply:
    """`reply` for the first delivery of this MessageSid; silence for a replay."""
    if not records.claim(store_keys.sms_seen(inbound.sid), SEEN_TTL_S):
        log.info("sms %s: already handled, ignoring the replay", inbound.sid)
        return SmsReply()
    return reply


class SmsChannel:
    """One per process: accepts webhook messages as durable jobs, and runs them (in-process workers, or
    on Lambda an async invocation per chat, through `defer`)."""

    def __init__(self, services: Services, defer: Callable[[JobRecord], None] | None = None, workers: bool = True):
        from .durable import SmsJobs

        self.services = services
        # On AWS `defer` hands jobs to an async invocation instead of in-process workers.
        self.host = TurnHost(services, defer, workers)
        self.host.add_handler(CHANNEL, SmsJobs(self))
        self.runner = self.host.runner
        self._client = None
        self._client_lock = threading.Lock()

    def handle(self, form: Mapping[str, str]) -> SmsReply:
        """Handle one webhook request (signature already checked): the reply to give now, maybe empty.

        StorageError means the message was not taken (nothing claimed): answer 5xx so Twilio tries again.
        """
        inbound = read_inbound(form)
        command = parse_command(inbound.body)
        log.info("sms %s from %s: %s", inbound.sid, mask_phone(inbound.phone), redact(command))
        early = admit(self.services, inbound, command)
        if early is not None:
            return early
        inbound = replace(inbound, phone=accounts.normalize_phone(inbound.phone))
        if command.name in ("stop", "start"):  # at once, not behind a slow answer that must then not be sent
            return _once(self.services.backend.records, inbound, self.process(inbound.phone, command))
        job = new_job(inbound.sid, inbound.phone, inbound.to, inbound.body)
        # The claim and the job are one write: a message is either taken and durable, or not taken at all.
        if not self.services.backend.records.enqueue_job(job, store_keys.sms_seen(inbound.sid), SEEN_TTL_S):
            return self._replayed(inbound)
        if command.name != "chat":  # quick: run it within this request when the phone has nothing before it
            try:
                reply = self._run_here(job)
            except Delta3Error:  # the message is taken and kept: a worker answers it through the Messages API
                log.exception("sms %s: could not run the command now; it stays queued", inbound.sid)
                reply = None
            if reply is not None:
                return reply
        # Behind another job, or with every worker busy, the answer cannot be quick: Twilio is freed at once.
        reply = self.host.wait_reply(job, self.services.settings.sms_reply_wait_s)
        return SmsReply(**reply) if reply else SmsReply()

    def _replayed(self, inbound: Inbound) -> SmsReply:
        """A MessageSid seen before: the same answer if it went out inline (our response was lost), else silence."""
        log.info("sms %s: already accepted, not taking it again", inbound.sid)
        job = self.services.backend.records.get_job(job_id_for(inbound.sid))
        if job is not None and job.outbox.get("via") == "inline" and job.reply:
            return SmsReply(**job.reply)
        return SmsReply()

    def _run_here(self, job: JobRecord) -> SmsReply | None:
        """Run the job in this thread and answer inline; None if it cannot start now (behind another job)."""
        leased = self.runner.lease(job.job_id)
        if leased is None:
            return None
        answered: list[dict] = []
        self.runner.run(leased, lambda lease, changes: _inline(lease, changes, answered))
        return SmsReply(**answered[0]) if answered else SmsReply()

    def process(self, phone: str, command: Command, observe=None) -> SmsReply:
        """Run one command or chat for `phone` to its reply; an unexpected failure becomes an apology."""
        try:
            return run_command(self.services, phone, command, observe)
        except LeaseLost:
            raise
        except Exception:
            log.exception("sms from %s: failed", mask_phone(phone))
            return SmsReply.text(SORRY_TEXT)

    def _twilio(self):
        with self._client_lock:
            if self._client is None:
                from .sender import make_client

                self._client = make_client(self.services.settings)
            return self._client

    @property
    def workers(self):
        """The in-process workers (None on Lambda)."""
        return self.host.workers

    def close(self) -> None:
        """Finish running jobs and stop the workers (jobs not started stay queued for the next start)."""
        self.host.close()


def _inline(lease, changes: dict, answered: list[dict]) -> bool:
    """Hand-off for a job run within the request: record it as answered inline, then answer with it."""
    if not finish_inline(lease, changes):
        return False
    answered.append(lease.job.reply)
    return True


def to_twiml(reply: SmsReply) -> str:
    """The reply as TwiML: one <Message> per part, media on the first; an empty <Response/> for silence."""
    from twilio.twiml.messaging_response import Message, MessagingResponse

    response = MessagingResponse()
    for index, text in enumerate(reply.messages):
        message = Message()
        message.body(text)
        for url in reply.media if index == 0 else ():
            message.media(url)
        response.append(message)
    return str(response)
