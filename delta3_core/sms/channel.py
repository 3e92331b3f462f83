"""The SMS channel: admit a Twilio message (once, within limits), run it in order, reply now or later."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from .. import accounts
from ..errors import StorageError, ValidationError
from .commands import Command, mask_phone, parse_command, redact
from .handlers import SmsReply, is_opted_out, run_command
from .queues import PendingReply, PhoneQueues

log = logging.getLogger("delta3.sms")

__all__ = ["Inbound", "SmsChannel", "SmsReply", "admit", "read_inbound", "to_twiml"]

MAX_BODY_CHARS = 1600  # what one SMS (concatenated) can carry; anything longer did not come from a phone
SEEN_TTL_S = 3 * 24 * 3600  # Twilio retries for hours at most; a replay days later is still refused
RATE_WINDOW_S = 60
SORRY_TEXT = "Sorry, something went wrong on our side. Please try again in a minute."
NOT_TAKEN_TEXT = "Sorry, DELTA3 could not take your message just now. Please send it again."


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


def admit(services, inbound: Inbound, command: Command) -> SmsReply | None:
    """Checks before any work: a reply to give at once (empty means silence), or None to go ahead."""
    records = services.backend.records
    settings = services.settings
    # Claimed in the store, so a Twilio retry or a second replica never runs a message twice.
    if not records.claim(f"sms:sid:{inbound.sid}", SEEN_TTL_S):
        log.info("sms %s: already handled, ignoring the replay", inbound.sid)
        return SmsReply()
    try:
        phone = accounts.normalize_phone(inbound.phone)
    except ValidationError:
        return SmsReply.text("DELTA3 answers text messages from phone numbers only.")
    carrier_keyword = command.name in ("stop", "start")
    if is_opted_out(services, phone) and not carrier_keyword:
        return SmsReply()  # opted out: say nothing until START
    if carrier_keyword:
        return None  # opting in or out must always work, whatever the limits
    count = records.incr_counter(f"sms:rate:phone:{phone}", RATE_WINDOW_S)
    if count > settings.sms_rate_per_phone:
        # Only the first refusal is answered: replying to every message of a flood would be a flood too.
        if count == settings.sms_rate_per_phone + 1:
            return SmsReply.text(f"You are sending messages faster than I can answer (limit "
                                 f"{settings.sms_rate_per_phone} a minute). Please wait a minute and try again.")
        return SmsReply()
    if records.incr_counter("sms:rate:global", RATE_WINDOW_S) > settings.sms_rate_global:
        if records.claim(f"sms:busy:{phone}", RATE_WINDOW_S):
            return SmsReply.text("DELTA3 is very busy right now. Please try again in a minute.")
        return SmsReply()
    if len(inbound.body) > MAX_BODY_CHARS:
        return SmsReply.text(f"That message is too long ({len(inbound.body)} characters). "
                             f"Please keep it under {MAX_BODY_CHARS}.")
    if command.name == "empty" and inbound.num_media:
        return SmsReply.text("I can only read text for now; please describe the picture in words.")
    return None


class SmsChannel:
    """One per process: handles webhook messages, with a worker pool and a Twilio client for late replies."""

    def __init__(self, services, send: Callable[[Inbound, SmsReply], None] | None = None,
                 defer: Callable[[Inbound], None] | None = None):
        self.services = services
        self.queues = PhoneQueues(services.settings.sms_workers)
        self._send = send
        self._defer = defer  # on AWS: hand chat messages to an async invocation instead of the local pool
        self._client = None
        self._client_lock = threading.Lock()

    def handle(self, form: Mapping[str, str]) -> SmsReply:
        """Handle one webhook request (signature already checked): the reply to give now, maybe empty."""
        inbound = read_inbound(form)
        command = parse_command(inbound.body)
        log.info("sms %s from %s: %s", inbound.sid, mask_phone(inbound.phone), redact(command))
        try:
            early = admit(self.services, inbound, command)
        except StorageError:  # say so rather than fail the request: Twilio would not resend a claimed message
            log.exception("sms %s: the store failed before the message could run", inbound.sid)
            return SmsReply.text(NOT_TAKEN_TEXT)
        if early is not None:
            return early
        inbound = replace(inbound, phone=accounts.normalize_phone(inbound.phone))
        if command.name in ("stop", "start"):  # at once, not behind a slow answer that must then not be sent
            return self.process(inbound, command)
        if self._defer is not None:
            # On Lambda nothing may run after the response (the sandbox freezes): chats go to an async
            # invocation, commands (quick) run right here.
            if command.name != "chat":
                return self.process(inbound, command)
            try:
                self._defer(inbound)
            except Exception:  # the message is claimed, so a failed request would lose it without a word
                log.exception("sms %s: could not hand the chat to a worker", inbound.sid)
                return SmsReply.text(NOT_TAKEN_TEXT)
            return SmsReply()
        pending = PendingReply(on_late=lambda reply: self.deliver(inbound, reply))
        starts_now = self.queues.submit(inbound.phone, lambda: self.process(inbound, command), pending.finish)
        # Behind another job the answer cannot be quick: free Twilio (and this thread) at once.
        wait_s = self.services.settings.sms_reply_wait_s if starts_now else 0.0
        return pending.wait(wait_s) or SmsReply()

    def process(self, inbound: Inbound, command: Command | None = None) -> SmsReply:
        """Run the message (command or chat) to its reply; an unexpected failure becomes an apology."""
        command = command or parse_command(inbound.body)
        try:
            return run_command(self.services, inbound.phone, command)
        except Exception:
            log.exception("sms %s: failed", inbound.sid)
            return SmsReply.text(SORRY_TEXT)

    def deliver(self, inbound: Inbound, reply: SmsReply) -> None:
        """Send a late reply through the Messages API, unless the phone opted out meanwhile."""
        if not reply.messages or is_opted_out(self.services, inbound.phone):
            return
        if self._send is not None:
            self._send(inbound, reply)
            return
        from .sender import send_messages

        sent = send_messages(self._twilio(), inbound.phone, inbound.to or self.services.settings.twilio_phone_number,
                             reply.messages, reply.media)
        log.info("sms %s: sent %d of %d late messages", inbound.sid, len(sent), len(reply.messages))

    def _twilio(self):
        with self._client_lock:
            if self._client is None:
                from .sender import make_client

                self._client = make_client(self.services.settings)
            return self._client

    def close(self) -> None:
        """Finish queued work and stop the workers."""
        self.queues.shutdown(wait=True)


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
