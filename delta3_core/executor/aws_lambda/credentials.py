"""Credentials for the executor Lambda that reach one user's workspace prefix and nothing else."""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ...storage.codec import workspace_prefix
from ..contract import ExecutorError

if TYPE_CHECKING:
    from delta3_core.config import Settings

SESSION_SECONDS = 900  # STS minimum
MAX_SESSION_SECONDS = 3600  # a role's default MaxSessionDuration


def session_policy(bucket: str, user_id: str, partition: str = "aws") -> dict[str, Any]:
    """IAM session policy: objects under users/<id>/workspace/ and listing that prefix, nothing more."""
    prefix = workspace_prefix(user_id)  # validates the id: no '*' or '?' can widen the policy
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "OwnWorkspaceObjects", "Effect": "Allow",
             "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
             "Resource": f"arn:{partition}:s3:::{bucket}/{prefix}*"},
            {"Sid": "ListOwnWorkspace", "Effect": "Allow", "Action": "s3:ListBucket",
             "Resource": f"arn:{partition}:s3:::{bucket}",
             "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}}},
        ],
    }


class CredentialMinter:
    """Mints (and briefly caches) per-user STS credentials: AssumeRole with a session policy when a role
    is configured (DELTA3_EXECUTOR_ROLE_ARN), else GetFederationToken (works for IAM-user credentials)."""

    def __init__(self, bucket: str, role_arn: str | None = None, sts_client: Any = None,
                 needed_s: float = 300.0):
        self.bucket = bucket
        self.role_arn = role_arn
        # A run plus its sync must finish before the credentials it got expire.
        self.needed_s = needed_s
        self.duration_s = int(min(MAX_SESSION_SECONDS, max(SESSION_SECONDS, 3 * needed_s)))
        self._sts = sts_client
        self._cache: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    @property
    def sts(self) -> Any:
        if self._sts is None:
            import boto3

            self._sts = boto3.client("sts")
        return self._sts

    def credentials(self, user_id: str) -> dict[str, Any]:
        """{'access_key_id', 'secret_access_key', 'session_token', 'expires_at'} scoped to `user_id`."""
        with self._lock:
            cached = self._cache.get(user_id)
            if cached and cached["expires_at"] - time.time() > self.needed_s:
                return cached
        policy = json.dumps(session_policy(self.bucket, user_id))
        try:
            if self.role_arn:
                answer = self.sts.assume_role(RoleArn=self.role_arn, RoleSessionName=f"delta3-run-{user_id}"[:64],
                                              Policy=policy, DurationSeconds=self.duration_s)
            else:
                answer = self.sts.get_federation_token(Name=f"d3-{user_id}"[:32], Policy=policy,
                                                       DurationSeconds=self.duration_s)
        except (ClientError, BotoCoreError) as error:
            code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else ""
            raise ExecutorError("Code cannot run: the app could not get storage credentials for the executor "
                                f"({code or type(error).__name__}); check DELTA3_EXECUTOR_ROLE_ARN and the "
                                "app's sts permissions.") from None
        raw = answer["Credentials"]
        expiration = raw["Expiration"]
        expires_at = expiration.timestamp() if hasattr(expiration, "timestamp") else time.time() + self.duration_s
        creds = {"access_key_id": raw["AccessKeyId"], "secret_access_key": raw["SecretAccessKey"],
                 "session_token": raw["SessionToken"], "expires_at": expires_at}
        with self._lock:
            self._cache[user_id] = creds
        return creds


def role_arn_from(settings: Settings) -> str | None:
    """The role to assume for scoped credentials (DELTA3_EXECUTOR_ROLE_ARN), if one is configured."""
    return settings.executor_role_arn or None
