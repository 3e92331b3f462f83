"""DynamoRecordStore's account deletion and daily usage items (layout in dynamo.py's docstring)."""

from __future__ import annotations

import calendar
import time
from typing import Any

from ..errors import StorageError
from .base import USAGE_COUNTS, PurgeJob, UsageRow, UserRecord
from .dynamo_items import FAILED, ConditionFailed, encode_item, item_key, number


class DynamoAccountsMixin:
    """Deleting accounts, purging what is left of them, and usage per day and model."""

    def delete_user(self, user_id: str) -> UserRecord | None:
        """Delete profile, email claim and phone claim and queue a purge, in one transaction."""
        user = self.get_user(user_id)
        if user is None:
            return None
        mine = {":u": {"S": user_id}}
        actions: list[dict[str, Any]] = [
            {"Delete": {"Key": item_key(f"USER#{user_id}", "PROFILE"), "ConditionExpression": "attribute_exists(pk)"}},
            {"Delete": {"Key": item_key(f"EMAIL#{user.email}", "EMAIL"),
                        "ConditionExpression": "attribute_not_exists(pk) OR user_id = :u",
                        "ExpressionAttributeValues": mine}},
            {"Put": {"Item": {**item_key("PURGE", f"USER#{user_id}"),
                              **encode_item(queued_at=time.time(), phone=user.phone)}}},
        ]
        phone = [{"Delete": {"Key": item_key(f"PHONE#{user.phone}", "PHONE"),
                             "ConditionExpression": "attribute_not_exists(pk) OR user_id = :u",
                             "ExpressionAttributeValues": mine}}] if user.phone else []
        # Second try without the phone: the profile may name a phone another account holds by now.
        for attempt in (actions + phone, actions):
            try:
                self._transact(attempt)
                return user
            except ConditionFailed:
                if self.get_user(user_id) is None:  # deleted at the same moment by another call, which owns it
                    return None
        raise StorageError(FAILED)

    def pending_purges(self) -> list[PurgeJob]:
        """Queued purges, oldest first."""
        items = self._query_all({"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {
            ":pk": {"S": "PURGE"}}, "ConsistentRead": True})
        jobs = [PurgeJob(item["sk"]["S"].removeprefix("USER#"), float(item["queued_at"]["N"]),
                         item.get("phone", {}).get("S")) for item in items]
        return sorted(jobs, key=lambda job: job.queued_at)

    def purge_user_records(self, user_id: str) -> None:
        """Delete every item under pk USER#<id>, and the sessions and access tokens it refers to."""
        keys: list[dict[str, Any]] = []
        for item in self._query_all({"KeyConditionExpression": "pk = :pk", "ProjectionExpression": "pk, sk, token_hash",
                                     "ExpressionAttributeValues": {":pk": {"S": f"USER#{user_id}"}},
                                     "ConsistentRead": True}):
            sk = item["sk"]["S"]
            # The items its references point to go before the references themselves.
            if sk.startswith("SESSION#"):
                keys.append(item_key(sk, "SESSION"))
            if sk.startswith("TOKEN#") and "token_hash" in item:
                keys.append(item_key(f"TOKEN#{item['token_hash']['S']}", "TOKEN"))
            keys.append(item_key(f"USER#{user_id}", sk))
        for start in range(0, len(keys), 25):
            self._batch_write([{"DeleteRequest": {"Key": key}} for key in keys[start:start + 25]])

    def finish_purge(self, user_id: str) -> None:
        self._call("delete_item", Key=item_key("PURGE", f"USER#{user_id}"))

    def add_usage(self, user_id: str, day: str, model: str, counts: dict[str, int]) -> None:
        """ADD the counts to the day's item (one UpdateItem); it expires 90 days after the day."""
        names = {f"#c{i}": name for i, name in enumerate(USAGE_COUNTS)}
        values = {f":c{i}": number(int(counts.get(name, 0))) for i, name in enumerate(USAGE_COUNTS)}
        expires = calendar.timegm(time.strptime(day, "%Y-%m-%d")) + 90 * 24 * 3600
        self._call("update_item", Key=item_key(f"USER#{user_id}", f"USAGE#{day}#{model}"),
                   UpdateExpression="ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(USAGE_COUNTS)))
                   + " SET #ttl = :ttl",
                   ExpressionAttributeNames={**names, "#ttl": "ttl"},
                   ExpressionAttributeValues={**values, ":ttl": number(expires)})

    def usage_rows(self, user_id: str, first_day: str) -> list[UsageRow]:
        items = self._query_all({
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last", "ConsistentRead": True,
            "ExpressionAttributeValues": {":pk": {"S": f"USER#{user_id}"}, ":first": {"S": f"USAGE#{first_day}"},
                                          ":last": {"S": "USAGE#~"}}})
        rows = []
        for item in items:
            _usage, day, model = item["sk"]["S"].split("#", 2)
            rows.append(UsageRow(day, model, *(int(item.get(n, {}).get("N", 0)) for n in USAGE_COUNTS)))
        return rows

    def _query_all(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        """Every raw item a Query returns, following its pages."""
        return [item for page in self._query_pages(request) for item in page]
