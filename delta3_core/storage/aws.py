"""The AWS backend: DynamoDB records, S3 workspace files, KMS key cipher.

Clients are made with plain `boto3.client(...)`, so boto3's own settings apply
(AWS_REGION, AWS_ENDPOINT_URL, profiles); pass `client=` to inject one in tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Backend
from .ciphers import KmsKeyCipher
from .dynamo import DynamoRecordStore
from .s3 import S3FileStore

if TYPE_CHECKING:
    from delta3_core.config import Settings

__all__ = ["DynamoRecordStore", "KmsKeyCipher", "S3FileStore", "open_aws"]


def open_aws(settings: Settings) -> Backend:
    """The AWS backend for settings.table / settings.bucket / settings.kms_key_id."""
    return Backend(
        records=DynamoRecordStore(settings.table),
        files=S3FileStore(settings.bucket),
        cipher=KmsKeyCipher(settings.kms_key_id),
    )
