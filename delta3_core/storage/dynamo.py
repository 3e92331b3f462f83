"""DynamoRecordStore: every record in one DynamoDB table with string keys `pk` and `sk`.

Item layout (pk / sk: attributes):
    USER#<id>     / PROFILE          user_id, email, password_hash, created_at, sessions_valid_after,
                                     gemini_key_ct, model, phone, prefs (JSON text)
    EMAIL#<email> / EMAIL            user_id           (claims the email: one account per address)
    SESSION#<sha256 of token> / SESSION   user_id, created_at, expires_at, ttl
    PHONE#<e164>  / PHONE            user_id           (one phone, one account)
    USER#<id>     / SEQ              seq               (history counter, bumped with UpdateItem ADD)
    USER#<id>     / MSG#<seq, 12 digits>  role, content, channel, created_at, meta (JSON text), seq
    COUNTER#<key>#<window number> / COUNTER   value, expires_at, ttl
    ONCE#<key>    / ONCE             expires_at, ttl   (claim(): a conditional put)
    KV#<key>      / KV               value, expires_at, ttl
    TOKEN#<sha256 of token> / TOKEN  token_id, user_id, name, created_at, expires_at?, ttl?  (API access token)
    USER#<id>     / TOKEN#<token id> the same attributes plus token_hash (the user's list of tokens)
    USER#<id>     / SESSION#<sha256> ttl               (finds a deleted account's sessions)
    USER#<id>     / USAGE#<day>#<model>  tokens_in, tokens_out, tokens_thinking, requests, ttl (90 days)
    PURGE         / USER#<id>        queued_at, phone  (a deleted account whose data is still being removed)
    USER#<id>     / CKPT#<turn id>   created_at, data (JSON text), undone (JSON text), ttl   (undo checkpoints)

Everything else of one user lives under pk USER#<id>, so purging a deleted account is one Query.

`ttl` (epoch seconds) lets DynamoDB delete expired items, but it does so lazily (up to days
later), so every read also compares `expires_at` with the clock and treats expired items as absent.
Multi-item writes (user + email, phone + profile, messages + trim) are single TransactWriteItems,
so a failure part-way leaves nothing half-written.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import ConflictError, NotFoundError, StorageError
from . import dynamo_jobs
from .base import (
    HISTORY_KEEP,
    AccessTokenRecord,
    Message,
    SessionRecord,
    UserRecord,
)
from .codec import USER_FIELDS, check_changes, dump_meta, load_meta, stamped, user_from_dict
from .dynamo_accounts import DynamoAccountsMixin
from .dynamo_checkpoints import DynamoCheckpointsMixin
from .dynamo_items import (
    FAILED,
    ConditionFailed,
    DynamoTable,
    decode_item,
    encode_item,
    item_key,
    msg_sk,
    number,
    transaction_chunks,
)


class DynamoRecordStore(DynamoAccountsMixin, DynamoCheckpointsMixin, DynamoTable):
    """RecordStore on one DynamoDB table (layout in the module docstring)."""

    # -- users ------------------------------------------------------------------------
    @staticmethod
    def _user(item: dict[str, Any] | None) -> UserRecord | None:
        if item is None:
            return None
        item["prefs"] = load_meta(item.get("prefs"))
        return user_from_dict(item)

    def _profile_item(self, user: UserRecord) -> dict[str, Any]:
        values = {name: getattr(user, name) for name in USER_FIELDS}
        values["prefs"] = dump_meta(user.prefs)
        return {**item_key(f"USER#{user.user_id}", "PROFILE"), **encode_item(**values)}

    def create_user(self, user: UserRecord) -> None:
        """Claim the email and write the profile in one transaction; ConflictError if taken."""
        try:
            self._transact([
                {"Put": {"Item": {**item_key(f"EMAIL#{user.email}", "EMAIL"), **encode_item(user_id=user.user_id)},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {"Item": self._profile_item(user), "ConditionExpression": "attribute_not_exists(pk)"}},
            ])
        except ConditionFailed:
            raise ConflictError("An account with that email already exists.") from None

    def get_user(self, user_id: str) -> UserRecord | None:
        return self._user(self._get(f"USER#{user_id}", "PROFILE"))

    def find_user_by_email(self, email: str) -> UserRecord | None:
        claim = self._get(f"EMAIL#{email}", "EMAIL")
        return self.get_user(claim["user_id"]) if claim else None

    def update_user(self, user_id: str, **changes: Any) -> UserRecord:
        """Set the given fields; an email change moves the email claim in the same transaction."""
        check_changes(changes)
        current = self.get_user(user_id)
        if current is None:
            raise NotFoundError("That account does not exist.")
        if not changes:
            return current
        old_email = current.email
        for name, value in changes.items():
            setattr(current, name, value)
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets: list[str] = []
        removes: list[str] = []
        for i, (name, value) in enumerate(changes.items()):
            names[f"#f{i}"] = name
            encoded = encode_item(v=dump_meta(value) if name == "prefs" else value).get("v")
            if encoded is None:
                removes.append(f"#f{i}")
            else:
                values[f":f{i}"] = encoded
                sets.append(f"#f{i} = :f{i}")
        expression = (f"SET {', '.join(sets)} " if sets else "") + (f"REMOVE {', '.join(removes)}" if removes else "")
        update: dict[str, Any] = {"Key": item_key(f"USER#{user_id}", "PROFILE"), "UpdateExpression": expression.strip(),
                                  "ConditionExpression": "attribute_exists(pk)", "ExpressionAttributeNames": names}
        if values:
            update["ExpressionAttributeValues"] = values
        actions: list[dict[str, Any]] = [{"Update": update}]
        if current.email != old_email:
            actions += [
                {"Put": {"Item": {**item_key(f"EMAIL#{current.email}", "EMAIL"), **encode_item(user_id=user_id)},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Delete": {"Key": item_key(f"EMAIL#{old_email}", "EMAIL")}},
            ]
        try:
            self._transact(actions)
        except ConditionFailed as failed:
            if failed.reasons and failed.reasons[0] == "ConditionalCheckFailed":
                raise NotFoundError("That account does not exist.") from None
            raise ConflictError("An account with that email already exists.") from None
        return current

    # -- sessions ---------------------------------------------------------------------
    def put_session(self, session: SessionRecord) -> None:
        # The per-user reference goes first: a session is never stored without a way to find it.
        self._call("put_item", Item={**item_key(f"USER#{session.user_id}", f"SESSION#{session.token_hash}"),
                                     **encode_item(ttl=int(session.expires_at) + 1)})
        self._call("put_item", Item={**item_key(f"SESSION#{session.token_hash}", "SESSION"), **encode_item(
            user_id=session.user_id, created_at=session.created_at, expires_at=session.expires_at,
            ttl=int(session.expires_at) + 1)})

    def get_session(self, token_hash: str) -> SessionRecord | None:
        """The session, or None if absent or expired."""
        item = self._live(f"SESSION#{token_hash}", "SESSION")
        if item is None:
            return None
        return SessionRecord(token_hash=token_hash, user_id=item["user_id"], created_at=item["created_at"],
                             expires_at=item["expires_at"])

    def delete_session(self, token_hash: str) -> None:
        self._call("delete_item", Key=item_key(f"SESSION#{token_hash}", "SESSION"))

    # -- phones -----------------------------------------------------------------------
    def link_phone(self, phone: str, user_id: str) -> None:
        """Claim `phone` (absent or already this user's) and set user.phone, releasing the old phone."""
        user = self.get_user(user_id)
        if user is None:
            raise NotFoundError("That account does not exist.")
        mine = {":u": {"S": user_id}}
        actions: list[dict[str, Any]] = [
            {"Put": {"Item": {**item_key(f"PHONE#{phone}", "PHONE"), **encode_item(user_id=user_id)},
                     "ConditionExpression": "attribute_not_exists(pk) OR user_id = :u",
                     "ExpressionAttributeValues": mine}},
            {"Update": {"Key": item_key(f"USER#{user_id}", "PROFILE"), "UpdateExpression": "SET phone = :p",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": {":p": {"S": phone}}}},
        ]
        if user.phone and user.phone != phone:
            actions.append({"Delete": {"Key": item_key(f"PHONE#{user.phone}", "PHONE"),
                                       "ConditionExpression": "attribute_not_exists(pk) OR user_id = :u",
                                       "ExpressionAttributeValues": mine}})
        try:
            self._transact(actions)
        except ConditionFailed as failed:
            if len(failed.reasons) > 1 and failed.reasons[1] == "ConditionalCheckFailed":
                raise NotFoundError("That account does not exist.") from None
            raise ConflictError("That phone number is already linked to another account.") from None

    def get_phone_user(self, phone: str) -> str | None:
        item = self._get(f"PHONE#{phone}", "PHONE")
        return item["user_id"] if item else None

    def unlink_phone(self, phone: str) -> None:
        """Release `phone` and clear it from its user's record (both in one transaction)."""
        holder = self.get_phone_user(phone)
        if holder is None:
            return
        try:
            self._transact([
                {"Delete": {"Key": item_key(f"PHONE#{phone}", "PHONE")}},
                {"Update": {"Key": item_key(f"USER#{holder}", "PROFILE"), "UpdateExpression": "REMOVE phone",
                            "ConditionExpression": "phone = :p", "ExpressionAttributeValues": {":p": {"S": phone}}}},
            ])
        except ConditionFailed:  # the profile no longer names this phone: just drop the claim
            self._call("delete_item", Key=item_key(f"PHONE#{phone}", "PHONE"))

    # -- history ----------------------------------------------------------------------
    def append_messages(self, user_id: str, messages: list[Message]) -> list[Message]:
        """Reserve seq numbers atomically, then write them and trim what falls past HISTORY_KEEP."""
        if not messages:
            return []
        count = len(messages)
        top = int(self._call("update_item", Key=item_key(f"USER#{user_id}", "SEQ"), UpdateExpression="ADD seq :n",
                             ExpressionAttributeValues={":n": number(count)},
                             ReturnValues="UPDATED_NEW")["Attributes"]["seq"]["N"])
        now = time.time()
        stored = [stamped(m, top - count + 1 + i, now) for i, m in enumerate(messages)]
        kept = [m for m in stored if m.seq > top - HISTORY_KEEP]  # older ones would be trimmed at once
        puts = [{"Put": {"Item": {**item_key(f"USER#{user_id}", msg_sk(m.seq)), **encode_item(
            role=m.role, content=m.content, channel=m.channel, created_at=m.created_at, seq=m.seq,
            meta=dump_meta(m.meta))}}} for m in kept]
        # Exactly the range this append pushes out (earlier appends trimmed theirs): no scan needed.
        first_gone = max(1, top - count - HISTORY_KEEP + 1)
        deletes = [{"Delete": {"Key": item_key(f"USER#{user_id}", msg_sk(seq))}}
                   for seq in range(first_gone, top - HISTORY_KEEP + 1)]
        try:
            for chunk in transaction_chunks(puts + deletes):  # one chunk unless the messages are huge
                self._transact(chunk)
        except ConditionFailed as exc:
            raise StorageError(FAILED) from exc
        return stored

    def recent_messages(self, user_id: str, limit: int) -> list[Message]:
        """The newest `limit` messages, oldest first: one Query read backwards, whatever the history size."""
        if limit <= 0:
            return []
        items = self._call("query", KeyConditionExpression="pk = :pk AND begins_with(sk, :msg)",
                           ExpressionAttributeValues={":pk": {"S": f"USER#{user_id}"}, ":msg": {"S": "MSG#"}},
                           ScanIndexForward=False, Limit=limit, ConsistentRead=True)["Items"]
        found = []
        for raw in reversed(items):
            item = decode_item(raw)
            found.append(Message(role=item["role"], content=item["content"], channel=item["channel"],
                                 created_at=item["created_at"], meta=load_meta(item.get("meta")),
                                 seq=int(item["seq"])))
        return found

    def clear_messages(self, user_id: str) -> None:
        """Delete the history (a Query of this user's messages, then batch deletes); seq keeps rising."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :msg)", "ProjectionExpression": "pk, sk",
            "ExpressionAttributeValues": {":pk": {"S": f"USER#{user_id}"}, ":msg": {"S": "MSG#"}}}
        for items in self._query_pages(request):
            keys = [{"DeleteRequest": {"Key": item}} for item in items]
            for start in range(0, len(keys), 25):
                self._batch_write(keys[start:start + 25])

    # -- counters, claims, values -----------------------------------------------------
    def incr_counter(self, key: str, window_s: int, amount: int = 1) -> int:
        """Add to the counter of the current fixed window; return its new value."""
        window = int(time.time() // window_s)
        expires = (window + 1) * window_s
        result = self._call(
            "update_item", Key=item_key(f"COUNTER#{key}#{window}", "COUNTER"),
            UpdateExpression="ADD #v :a SET expires_at = :e, #ttl = :t",
            ExpressionAttributeNames={"#v": "value", "#ttl": "ttl"},
            ExpressionAttributeValues={":a": number(amount), ":e": number(expires), ":t": number(expires + 60)},
            ReturnValues="ALL_NEW")  # ALL_NEW: adding 0 (a read) leaves "value" out of UPDATED_NEW
        return int(result["Attributes"]["value"]["N"])

    def claim(self, key: str, ttl_s: int) -> bool:
        """True for the first caller to claim `key` (a conditional put; an expired claim counts as absent)."""
        now = time.time()
        try:
            self._call("put_item", Item={**item_key(f"ONCE#{key}", "ONCE"),
                                         **encode_item(expires_at=now + ttl_s, ttl=int(now + ttl_s) + 1)},
                       ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                       ExpressionAttributeValues={":now": number(now)})
        except ConditionFailed:
            return False
        return True

    def put_value(self, key: str, value: str, ttl_s: int) -> None:
        expires = time.time() + ttl_s
        self._call("put_item", Item={**item_key(f"KV#{key}", "KV"),
                                     **encode_item(value=value, expires_at=expires, ttl=int(expires) + 1)})

    def get_value(self, key: str) -> str | None:
        """The value, or None if absent or expired."""
        item = self._live(f"KV#{key}", "KV")
        return item["value"] if item else None

    def delete_value(self, key: str) -> None:
        self._call("delete_item", Key=item_key(f"KV#{key}", "KV"))

    # -- API access tokens ------------------------------------------------------------
    def put_access_token(self, token: AccessTokenRecord) -> None:
        """Write the lookup item and the user's list entry in one transaction."""
        ttl = int(token.expires_at) + 1 if token.expires_at is not None else None
        values = encode_item(token_id=token.token_id, token_hash=token.token_hash, user_id=token.user_id,
                             name=token.name, created_at=token.created_at, expires_at=token.expires_at, ttl=ttl)
        self._transact([
            {"Put": {"Item": {**item_key(f"TOKEN#{token.token_hash}", "TOKEN"), **values},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"Item": {**item_key(f"USER#{token.user_id}", f"TOKEN#{token.token_id}"), **values},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])

    @staticmethod
    def _token(item: dict[str, Any]) -> AccessTokenRecord:
        return AccessTokenRecord(token_id=item["token_id"], token_hash=item["token_hash"], user_id=item["user_id"],
                                 name=item["name"], created_at=item["created_at"], expires_at=item.get("expires_at"))

    def get_access_token(self, token_hash: str) -> AccessTokenRecord | None:
        """The token, or None if absent or expired."""
        item = self._live(f"TOKEN#{token_hash}", "TOKEN")
        return self._token(item) if item else None

    def list_access_tokens(self, user_id: str) -> list[AccessTokenRecord]:
        """The user's unexpired tokens, oldest first (one Query of the user's partition)."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :t)", "ConsistentRead": True,
            "ExpressionAttributeValues": {":pk": {"S": f"USER#{user_id}"}, ":t": {"S": "TOKEN#"}}}
        now = time.time()
        found = [self._token(item) for items in self._query_pages(request) for item in map(decode_item, items)
                 if item.get("expires_at", float("inf")) > now]
        return sorted(found, key=lambda t: (t.created_at, t.token_id))

    def delete_access_token(self, user_id: str, token_id: str) -> bool:
        """Delete the list entry and the lookup item together; False if the user has no such token."""
        item = self._get(f"USER#{user_id}", f"TOKEN#{token_id}")
        if item is None:
            return False
        self._transact([
            {"Delete": {"Key": item_key(f"USER#{user_id}", f"TOKEN#{token_id}")}},
            {"Delete": {"Key": item_key(f"TOKEN#{item['token_hash']}", "TOKEN")}},
        ])
        return True

    # -- durable turn queue (delta3_core/turns; items in dynamo_jobs.py) ----------------
    def enqueue_job(self, job, claim_key: str, claim_ttl_s: int) -> bool:
        """Claim `claim_key` and write the job in one step; False (nothing written) if claimed before."""
        return dynamo_jobs.enqueue_job(self, job, claim_key, claim_ttl_s)

    def get_job(self, job_id: str):
        """The job (open, or finished within a week), or None."""
        return dynamo_jobs.get_job(self, job_id)

    def open_jobs(self, limit: int = 1000) -> list:
        """Pending and running jobs, in queue order."""
        return dynamo_jobs.query_jobs(self, dynamo_jobs.QUEUE_PK, limit)

    def failed_jobs(self, limit: int = 100) -> list:
        """Jobs that could not be answered (kept a week), oldest first."""
        return dynamo_jobs.query_jobs(self, dynamo_jobs.FAILED_PK, limit)

    def lease_job(self, job, owner: str, lease_s: float):
        """Take `job` (as seen) if it is pending or its lease ran out; the leased job, or None."""
        return dynamo_jobs.lease_job(self, job, owner, lease_s)

    def save_job(self, job) -> None:
        """Write the job as its lease holder (owner and attempts must match); LeaseLost otherwise."""
        dynamo_jobs.save_job(self, job)

    # -- account deletion of durable turn jobs ---------------------------------------------
    def delete_user_jobs(self, user_id: str, phone: str | None = None) -> None:
        """Delete every job of a deleted account: its API turns and the SMS sent from its phone."""
        dynamo_jobs.delete_user_jobs(self, user_id, phone)
