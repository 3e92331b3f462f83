"""Send SMS/MMS through the Twilio Messages API with the official client (TWILIO_API_BASE_URL for a local fake)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ..errors import ConfigError

if TYPE_CHECKING:
    from delta3_core.config import Settings

log = logging.getLogger("delta3.sms")
# The client logs request parameters, which hold the message text: users' conversations stay out of logs.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)

OPTED_OUT_CODE = 21610  # Twilio: the recipient texted STOP; sending more is refused
SEND_TIMEOUT_S = 15.0  # a hung connection must not hold a worker (and the phone's queue) for ever
LOOKBACK_MESSAGES = 20  # the newest messages to one phone searched for a send cut short by a crash
CLOCK_SLACK_S = 5.0  # Twilio's clock (second precision) against ours


def make_client(settings: Settings) -> Client:
    """A Twilio REST client for this account, pointed at TWILIO_API_BASE_URL when it is set."""
    if not (settings.twilio_account_sid and settings.twilio_auth_token):
        raise ConfigError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set to send SMS.")
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token,
                    http_client=TwilioHttpClient(timeout=SEND_TIMEOUT_S))
    if settings.twilio_api_base_url:
        client.api.base_url = settings.twilio_api_base_url
    return client


def send_messages(client: Client, to: str, from_: str, messages: list[str], media: list[str] = ()) -> list[str]:
    """Send `messages` in order (media on the first); return the sids sent. Stops at the first failure."""
    sids: list[str] = []
    for index, body in enumerate(messages):
        extra = {"media_url": list(media)} if media and index == 0 else {}
        try:
            message = client.messages.create(to=to, from_=from_, body=body, **extra)
        except TwilioRestException as error:
            if error.code == OPTED_OUT_CODE:
                log.info("not sent: the recipient has opted out")
            else:
                log.error("Twilio refused a message (status %s, code %s)", error.status, error.code)
            break
        except (TwilioException, OSError) as error:
            # Network trouble (requests' errors are OSErrors): the rest would fail too, or arrive out of order.
            log.error("Twilio could not be reached: %s", type(error).__name__)
            break
        sids.append(message.sid)
    return sids


def send_one(client: Client, to: str, from_: str, body: str, media: list[str] = ()) -> str | None:
    """Send one message; its sid, or None when Twilio refused it for good (opted out, bad number...).

    OSError/TwilioException (network trouble) propagate: the caller may try again later.
    """
    extra = {"media_url": list(media)} if media else {}
    try:
        return client.messages.create(to=to, from_=from_, body=body, **extra).sid
    except TwilioRestException as error:
        if error.code == OPTED_OUT_CODE:
            log.info("not sent: the recipient has opted out")
        else:
            log.error("Twilio refused a message (status %s, code %s)", error.status, error.code)
        return None


def find_sent(client: Client, to: str, from_: str, body: str, since: float) -> str | None:
    """The sid of a message with this body sent to `to` at or after `since` (epoch s), if Twilio has one.

    For a send that was under way when the process died: did it reach Twilio before the crash?
    """
    for message in client.messages.list(to=to, from_=from_, limit=LOOKBACK_MESSAGES):
        created = message.date_created.timestamp() if message.date_created else None
        if message.body == body and (created is None or created >= since - CLOCK_SLACK_S):
            return message.sid
    return None
