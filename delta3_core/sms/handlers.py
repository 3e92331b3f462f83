"""What each SMS command does; every function returns the reply text and changes nothing on bad input."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import accounts, history, keys, store_keys
from ..errors import Delta3Error, ModelError, StorageError, ValidationError
from .commands import USAGE, Command, mask_email
from .paging import PAGE_TTL_S, first_page, next_page, save_pages, split_text

if TYPE_CHECKING:
    from delta3_core.services import Services

log = logging.getLogger("delta3.sms")

OPTOUT_TTL_S = 10 * 365 * 24 * 3600  # an opt-out lasts until START
HELP_TEXT = ("DELTA3 commands: REGISTER <email> <password> | LINK <email> <password> | KEY <gemini-key> | "
             "MODEL (see or switch: MODEL <name>) | CLEAR (forget the chat) | UNDO (revert the last file changes) | "
             "MORE (rest of a long answer) | "
             "UNLINK | STOP | HELP. "
             "Anything else is a message to the assistant.")
UNLINKED_TEXT = ("This phone is not linked to a DELTA3 account. Text REGISTER <email> <password> to create one, "
                 "or LINK <email> <password> to use the account you made on the web.")
NO_KEY_TEXT = "Add your Gemini API key first: text KEY <your-key> (get one at https://aistudio.google.com/apikey)."


@dataclass
class SmsReply:
    """What to send back: messages in order, media URLs on the first one; none at all when silent."""

    messages: list[str] = field(default_factory=list)
    media: list[str] = field(default_factory=list)

    @classmethod
    def text(cls, message: str) -> SmsReply:
        """A reply of one short message."""
        return cls([message])


# Kept by name for accounts/deletion.py.
more_key = store_keys.sms_more


def is_opted_out(services: Services, phone: str) -> bool:
    """True when this phone texted STOP and not START since."""
    return services.backend.records.get_value(store_keys.sms_optout(phone)) is not None


def run_command(services: Services, phone: str, command: Command, observe=None) -> SmsReply:
    """Carry out one parsed command for `phone` and return the reply; domain errors become the reply.

    `observe(event)`, if given, sees each event of a chat turn as it happens (durable turns record progress).
    """
    try:
        return _dispatch(services, phone, command, observe)
    except Delta3Error as error:
        return SmsReply.text(str(error))


def _dispatch(services: Services, phone: str, command: Command, observe=None) -> SmsReply:
    records = services.backend.records
    name = command.name
    if name == "stop":
        records.put_value(store_keys.sms_optout(phone), "1", OPTOUT_TTL_S)
        return SmsReply.text("You are unsubscribed from DELTA3 and will get no more messages. Text START to resume.")
    if name == "start":
        records.delete_value(store_keys.sms_optout(phone))
        return SmsReply.text("You are subscribed to DELTA3 again. Text HELP for the commands.")
    if name == "help":
        return SmsReply.text(HELP_TEXT)
    if name == "empty":
        return SmsReply.text("Your message was empty. Text HELP for the commands.")
    if name == "register":
        return _register(services, phone, *command.args)
    if name == "link":
        return _link(services, phone, *command.args)
    user = accounts.user_for_phone(services.backend, phone)
    if user is None:
        return SmsReply.text(USAGE[command.usage_for] if command.usage_for in ("register", "link") else UNLINKED_TEXT)
    if name == "key":
        return _save_key(services, user, command.args[0])
    if name == "clear":
        history.clear(services.backend, user.user_id)
        records.delete_value(store_keys.sms_more(phone, user.user_id))
        return SmsReply.text("Chat history cleared. Your files are kept.")
    if name == "unlink":
        accounts.unlink_phone(services.backend, user.user_id)
        records.delete_value(store_keys.sms_more(phone, user.user_id))
        return SmsReply.text(f"This phone is no longer linked to {mask_email(user.email)}.")
    if name == "more":
        return _more(services, store_keys.sms_more(phone, user.user_id))
    if name == "model":
        return _model(services, user, *command.args)
    if name == "undo":
        from ..checkpoints import undo_last

        return SmsReply.text(undo_last(services, user.user_id, channel="sms").message())
    return _chat(services, phone, user, command, observe)


def _register(services: Services, phone: str, email: str, password: str) -> SmsReply:
    linked = accounts.user_for_phone(services.backend, phone)
    if linked is not None:
        return SmsReply.text(f"This phone is already linked to {mask_email(linked.email)}. "
                             "Text UNLINK first to create another account.")
    user = accounts.register(services.backend, email, password)
    accounts.link_phone(services.backend, user.user_id, phone)
    return SmsReply.text(f"Account created for {user.email} and linked to this phone. "
                         "Next, text KEY <your Gemini API key>.")


def _link(services: Services, phone: str, email: str, password: str) -> SmsReply:
    user = accounts.authenticate(services.backend, email, password, source=phone)
    linked = accounts.user_for_phone(services.backend, phone)
    if linked is not None and linked.user_id == user.user_id:
        return SmsReply.text(f"This phone is already linked to {user.email}.")
    if linked is not None:
        return SmsReply.text(f"This phone is linked to another account ({mask_email(linked.email)}). "
                             "Text UNLINK first.")
    accounts.link_phone(services.backend, user.user_id, phone)
    follow = "You can chat now." if keys.has_gemini_key(user) else "Next, text KEY <your Gemini API key>."
    return SmsReply.text(f"This phone is now linked to {user.email}. {follow}")


def _save_key(services: Services, user, key: str) -> SmsReply:
    note = ""
    try:
        from .. import agent

        agent.check_key(services.settings, key)
    except ValidationError:
        raise  # cannot be a key: the reply says so, and nothing was sent or saved
    except ModelError as error:
        if error.kind == "invalid_key":
            return SmsReply.text(f"Gemini did not accept that key, so it was not saved: {error}")
        note = " (Gemini could not be reached to check it.)"
    except Exception as error:  # an odd failure of the HTTP client: save the key unchecked, as when offline
        log.warning("could not check a Gemini key (%s)", type(error).__name__)
        note = " (Gemini could not be reached to check it.)"
    keys.set_gemini_key(services.backend, user.user_id, key)
    return SmsReply.text(f"Gemini key {keys.mask_key(key)} saved.{note} You can chat now.")


def _model(services: Services, user, name: str | None = None) -> SmsReply:
    """MODEL: the current model and the usable ones, in one text; MODEL <name>: switch (refused if not listed)."""
    from ..agent import models

    if name is not None:
        chosen = models.choose_model(services, user.user_id, name)  # ValidationError names the usable ones
        return SmsReply.text(f"Now using {chosen.model or models.list_models(services, user.user_id).default}.")
    available = models.list_models(services, user.user_id)
    current = available.find(user.model) or available.default
    note = "" if available.live or not keys.has_gemini_key(user) else " (Gemini did not answer: the usual list.)"
    return SmsReply.text(f"Model: {current}. Your key can use: {', '.join(available.names)}.{note} "
                         "Text MODEL <name> to switch.")


def _more(services: Services, key: str) -> SmsReply:
    records = services.backend.records
    saved = records.get_value(key)
    if not saved:
        return SmsReply.text("There is nothing more to show.")
    now, later, state = next_page(saved)
    if later:
        records.put_value(key, state, PAGE_TTL_S)
    else:
        records.delete_value(key)
    return SmsReply(now)


def _chat(services: Services, phone: str, user, command: Command, observe=None) -> SmsReply:
    if not keys.has_gemini_key(user):
        return SmsReply.text(NO_KEY_TEXT)
    from .. import agent

    events = agent.chat(services, user.user_id, command.text, channel="sms")
    return chat_reply(services, phone, user, agent.collect(_observed(events, observe) if observe else events))


def _observed(events, observe):
    for event in events:
        observe(event)
        yield event


def chat_reply(services: Services, phone: str, user, reply) -> SmsReply:
    """An agent Reply as SMS: pages (the rest kept for MORE), the error sentence, picture links."""
    from . import media_links

    text = (reply.text or "").strip()
    if reply.error:
        # The agent words its errors for the channel, KEY instructions included.
        error = str(reply.error)
        text = f"{text}\n\n{error}" if text else error
    parts = split_text(text or "(The assistant gave no answer; try rephrasing.)")
    now, later = first_page(parts)
    try:
        _keep_pages(services.backend.records, store_keys.sms_more(phone, user.user_id), later, len(parts))
    except StorageError as error:  # the answer is ready: send it even if the rest cannot be kept for MORE
        log.warning("could not keep the MORE pages: %s", error)
        if later:
            now[-1] = now[-1].rsplit("\nReply MORE", 1)[0] + "\n(The rest could not be kept; please ask again.)"
    media = media_links.urls_for(services, user.user_id, list(reply.images or []))
    return SmsReply(now, media)


def _keep_pages(records, key: str, later: list[str], total: int) -> None:
    """Keep the parts not sent yet for MORE; a new answer replaces the pages of an older one."""
    if later:
        records.put_value(key, save_pages(later, total), PAGE_TTL_S)
    else:
        records.delete_value(key)
