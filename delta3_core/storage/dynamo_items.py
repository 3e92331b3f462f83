"""Low-level DynamoDB plumbing for DynamoRecordStore: item encoding and error-mapped calls."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from ..errors import StorageError
from .codec import aws_client

MAX_TRANSACT = 100  # DynamoDB's limit of actions in one TransactWriteItems
MAX_TRANSACT_BYTES = 3_500_000  # under its 4 MB request limit
_TABLE_OPERATIONS = frozenset({"get_item", "put_item", "update_item", "delete_item", "query"})
FAILED = "The database (DynamoDB) failed, so nothing was saved; please try again."


class ConditionFailed(Exception):
    """A conditional write was refused; `reasons` lists each transaction item's reason code."""

    def __init__(self, reasons: list[str]):
        super().__init__(reasons)
        self.reasons = reasons


def number(value: float | int) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(int(value))}


def encode_item(**attributes: Any) -> dict[str, dict[str, Any]]:
    """A low-level DynamoDB item: str -> S, int/float -> N, dict -> JSON S; None is left out."""
    encoded: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, dict):
            encoded[name] = {"S": json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)}
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            encoded[name] = {"S": str(value)}
        else:
            encoded[name] = number(value)
    return encoded


def decode_item(item: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The item's attributes as Python values (S -> str, N -> float)."""
    return {name: (float(v["N"]) if "N" in v else v.get("S")) for name, v in item.items()}


def item_key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def msg_sk(seq: int) -> str:
    return f"MSG#{seq:012d}"


def transaction_chunks(actions: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split actions into transactions within DynamoDB's limits (100 actions, 4 MB per request)."""
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for action in actions:
        action_size = len(json.dumps(action))
        if chunks[-1] and (len(chunks[-1]) == MAX_TRANSACT or size + action_size > MAX_TRANSACT_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append(action)
        size += action_size
    return [chunk for chunk in chunks if chunk]


class DynamoTable:
    """One DynamoDB table and its client; every call turns AWS failures into domain errors."""

    def __init__(self, table_name: str, client: Any = None):
        self.table = table_name
        self.client = aws_client("dynamodb", client)

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """Run one API call; conditional refusals -> ConditionFailed, anything else -> StorageError."""
        from botocore.exceptions import BotoCoreError, ClientError

        if operation in _TABLE_OPERATIONS:
            kwargs.setdefault("TableName", self.table)
        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise ConditionFailed(["ConditionalCheckFailed"]) from None
            if code == "TransactionCanceledException":
                reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
                if "ConditionalCheckFailed" in reasons or not reasons:
                    raise ConditionFailed(reasons) from None
            raise StorageError(FAILED) from exc
        except BotoCoreError as exc:
            raise StorageError("The database (DynamoDB) could not be reached; nothing was saved.") from exc

    def _query_pages(self, request: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """The raw items of a Query, page by page."""
        # Not boto3's paginator: every page goes through _call, which turns AWS failures into domain errors.
        while True:
            page = self._call("query", **request)
            yield page["Items"]
            if "LastEvaluatedKey" not in page:
                return
            request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self._call("get_item", Key=item_key(pk, sk), ConsistentRead=True).get("Item")
        return decode_item(item) if item else None

    def _live(self, pk: str, sk: str) -> dict[str, Any] | None:
        """The item, or None if absent or past its expires_at (TTL deletion is lazy)."""
        item = self._get(pk, sk)
        return item if item and item.get("expires_at", float("inf")) > time.time() else None

    def _transact(self, items: list[dict[str, Any]]) -> None:
        for action in items:
            next(iter(action.values()))["TableName"] = self.table
        self._call("transact_write_items", TransactItems=items)

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for _attempt in range(8):
            if not requests:
                return
            left = self._call("batch_write_item", RequestItems={self.table: requests})
            requests = left.get("UnprocessedItems", {}).get(self.table, [])
            time.sleep(0.05)
        if requests:
            raise StorageError("The database (DynamoDB) is busy; please try again.")
