"""DynamoRecordStore's undo checkpoints: items USER#<id> / CKPT#<turn id>."""

from __future__ import annotations

import time
from typing import Any

from .base import CHECKPOINT_MAX_AGE_S, CheckpointRecord
from .codec import dump_meta, load_meta
from .dynamo_items import ConditionFailed, decode_item, encode_item, item_key


class DynamoCheckpointsMixin:
    """One item per turn that changed files: what undo needs to revert it."""

    def put_checkpoint(self, user_id: str, record: CheckpointRecord) -> None:
        """One PutItem; the `ttl` lets DynamoDB drop it after CHECKPOINT_MAX_AGE_S."""
        self._call("put_item", Item={**item_key(f"USER#{user_id}", f"CKPT#{record.turn_id}"), **encode_item(
            created_at=record.created_at, data=dump_meta(record.data),
            undone=None if record.undone is None else dump_meta(record.undone),
            ttl=int(record.created_at + CHECKPOINT_MAX_AGE_S) + 1)})

    def recent_checkpoints(self, user_id: str, limit: int) -> list[CheckpointRecord]:
        """One Query read backwards; expired ones (TTL deletion is lazy) are left out."""
        if limit <= 0:
            return []
        items = self._call("query", KeyConditionExpression="pk = :pk AND begins_with(sk, :ck)",
                           ExpressionAttributeValues={":pk": {"S": f"USER#{user_id}"}, ":ck": {"S": "CKPT#"}},
                           ScanIndexForward=False, Limit=limit, ConsistentRead=True)["Items"]
        oldest = time.time() - CHECKPOINT_MAX_AGE_S
        found = []
        for raw in items:
            item = decode_item(raw)
            if item["created_at"] >= oldest:
                found.append(CheckpointRecord(item["sk"][len("CKPT#"):], item["created_at"], load_meta(item["data"]),
                                              load_meta(item["undone"]) if item.get("undone") else None))
        return found

    def mark_checkpoint_undone(self, user_id: str, turn_id: str, undone: dict[str, Any] | None) -> bool:
        """A conditional UpdateItem: only the first of two racing callers sets it."""
        key = item_key(f"USER#{user_id}", f"CKPT#{turn_id}")
        if undone is None:
            change: dict[str, Any] = {"UpdateExpression": "REMOVE undone"}
        else:
            change = {"UpdateExpression": "SET undone = :u",
                      "ExpressionAttributeValues": {":u": {"S": dump_meta(undone)}},
                      "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(undone)"}
        try:
            self._call("update_item", Key=key, **{"ConditionExpression": "attribute_exists(pk)", **change})
        except ConditionFailed:
            return False
        return True

    def delete_checkpoints(self, user_id: str, turn_ids: list[str]) -> None:
        keys = [{"DeleteRequest": {"Key": item_key(f"USER#{user_id}", f"CKPT#{t}")}} for t in turn_ids]
        for start in range(0, len(keys), 25):
            self._batch_write(keys[start:start + 25])
