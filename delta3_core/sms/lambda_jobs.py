"""SMS on AWS Lambda: hand slow chats to an async self-invocation, run in order per phone.

A Lambda is frozen once it has answered, so it cannot finish a slow chat in a background thread
the way the local pool does. The webhook invocation answers Twilio with an empty <Response/>
and invokes its own function asynchronously (InvocationType="Event") with the message; that
invocation runs the chat and sends the answer through the Twilio Messages API.

Order per phone across invocations: the webhook numbers each deferred message of a phone
(a counter in the store); the worker waits until the message before it is done, but at most
ORDER_WAIT_S and never more than half the time its invocation has left: a worker killed by the
Lambda timeout would never mark its message done, and every later message of the phone would
then wait on it in turn.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict

from .channel import Inbound, SmsChannel

log = logging.getLogger("delta3.sms")

JOB_KEY = "delta3_sms_job"
SEQ_WINDOW_S = 10 * 365 * 24 * 3600  # one window for years: the counter works as a sequence number
ORDER_WAIT_S = 600.0
POLL_S = 0.5
DONE_TTL_S = 7 * 24 * 3600


def _done_key(phone: str) -> str:
    return f"sms:done:{phone}"


def lambda_invoke(payload: dict) -> None:
    """Invoke this same function asynchronously with `payload` (boto3 honours AWS_REGION etc.)."""
    import boto3

    boto3.client("lambda").invoke(FunctionName=os.environ["AWS_LAMBDA_FUNCTION_NAME"], InvocationType="Event",
                                  Payload=json.dumps(payload).encode())


def make_defer(services, invoke: Callable[[dict], None] = lambda_invoke) -> Callable[[Inbound], None]:
    """The `defer` hook of SmsChannel on Lambda: number the message and invoke a worker for it."""

    def defer(inbound: Inbound) -> None:
        seq = services.backend.records.incr_counter(f"sms:seq:{inbound.phone}", SEQ_WINDOW_S)
        invoke({JOB_KEY: asdict(inbound), "seq": seq})

    return defer


def wait_turn(records, phone: str, seq: int, max_wait_s: float = ORDER_WAIT_S, poll_s: float = POLL_S) -> bool:
    """Wait until message `seq - 1` of this phone is done; False if we gave up waiting."""
    deadline = time.monotonic() + max_wait_s
    while True:
        done = int(records.get_value(_done_key(phone)) or 0)
        if done >= seq - 1:  # also true when the counter restarted (done is then ahead of seq)
            return True
        if time.monotonic() >= deadline:
            log.warning("sms: gave up waiting for an earlier message of the same phone")
            return False
        time.sleep(poll_s)


def _mark_done(records, phone: str, seq: int) -> None:
    """Record message `seq` as done; never lower the mark (a later message that gave up waiting may be done)."""
    if int(records.get_value(_done_key(phone)) or 0) < seq:
        records.put_value(_done_key(phone), str(seq), DONE_TTL_S)


def run_job(channel: SmsChannel, event: dict, time_left_s: float | None = None,
            max_wait_s: float = ORDER_WAIT_S) -> dict:
    """Handle one async invocation: wait for this phone's turn, run the chat, send the answer.

    `time_left_s` is what the invocation has left (Lambda's context); half of it is kept for the chat.
    """
    inbound = Inbound(**event[JOB_KEY])
    seq = int(event.get("seq") or 0)
    records = channel.services.backend.records
    if time_left_s is not None:
        max_wait_s = min(max_wait_s, time_left_s / 2)
    if seq:
        wait_turn(records, inbound.phone, seq, max_wait_s)
    try:
        channel.deliver(inbound, channel.process(inbound))
    finally:
        if seq:
            _mark_done(records, inbound.phone, seq)
    return {"ok": True, "sid": inbound.sid}
