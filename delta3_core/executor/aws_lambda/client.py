"""The Lambda executor (DELTA3_EXECUTOR=lambda): mint per-user credentials, invoke, map failures."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from ...storage.codec import workspace_prefix
from ..contract import ExecutorError, Limits, RunResult, ValidationError, check_request
from .credentials import CredentialMinter, role_arn_from
from .protocol import EVENT_VERSION

if TYPE_CHECKING:
    from delta3_core.config import Settings
    from delta3_core.storage.base import Backend

SYNC_ALLOWANCE_S = 120  # restore + push on top of the run's own wall time
RETRY_DELAYS_S = (0.5, 1.5)  # only for failures where the function surely did not run

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


class LambdaExecutor:
    """Executor that runs code in the executor Lambda, one tenant (user) per execution environment."""

    def __init__(self, settings: Settings, backend: Backend, invoke: Invoke | None = None, lambda_client: Any = None,
                 minter: CredentialMinter | None = None):
        if not settings.bucket:
            raise ExecutorError("The Lambda executor needs DELTA3_BUCKET (the workspace bucket).")
        self.settings = settings
        self.backend = backend
        self.limits = Limits.from_settings(settings)
        self.minter = minter or CredentialMinter(settings.bucket, role_arn_from(settings),
                                                 needed_s=self.limits.wall_s + SYNC_ALLOWANCE_S + 60)
        self._invoke = invoke or self._invoke_lambda
        self._client = lambda_client

    def run(self, user_id: str, kind: str, source: str) -> RunResult:
        """Run code for `user_id` in the Lambda; ExecutorError when it could not run or answer."""
        check_request(kind, source)
        answer = self._invoke(self.build_event(user_id, kind, source))
        if not isinstance(answer, dict):
            raise ExecutorError("The executor sent an answer this app cannot read; the code may have run.")
        if answer.get("ok"):
            return RunResult.from_dict(answer.get("result") or {})
        if answer.get("error") == "ValidationError":
            raise ValidationError(answer.get("message") or "The executor refused the request.")
        raise ExecutorError(answer.get("message") or "The executor could not run the code.")

    def build_event(self, user_id: str, kind: str, source: str) -> dict[str, Any]:
        """The event documented in executor_lambda/README.md, with credentials for this user only."""
        return {
            "version": EVENT_VERSION, "user_id": user_id, "kind": kind, "source": source,
            "limits": self.limits.to_dict(),
            "storage": {
                "bucket": self.settings.bucket, "prefix": workspace_prefix(user_id),
                "region": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
                "endpoint_url": os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"),
                "credentials": self.minter.credentials(user_id),
            },
        }

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            read_timeout = self.limits.wall_s + SYNC_ALLOWANCE_S
            self._client = boto3.client("lambda", config=Config(
                read_timeout=read_timeout, connect_timeout=10, retries={"total_max_attempts": 1}))
        return self._client

    def _invoke_lambda(self, event: dict[str, Any]) -> dict[str, Any]:
        """boto3 invoke with TenantId; retry only throttling and connection failures (nothing ran)."""
        payload = json.dumps(event).encode()
        for attempt in range(len(RETRY_DELAYS_S) + 1):
            try:
                response = self.client.invoke(FunctionName=self.settings.executor_function,
                                              InvocationType="RequestResponse", TenantId=event["user_id"],
                                              Payload=payload)
                return _read_response(response)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code in ("TooManyRequestsException", "ThrottlingException") and attempt < len(RETRY_DELAYS_S):
                    time.sleep(RETRY_DELAYS_S[attempt])
                    continue
                raise ExecutorError(_client_error_message(code)) from None
            except (EndpointConnectionError, ConnectTimeoutError):
                if attempt < len(RETRY_DELAYS_S):
                    time.sleep(RETRY_DELAYS_S[attempt])
                    continue
                raise ExecutorError("The executor could not be reached; the code did not run. "
                                    "Please try again.") from None
            except ReadTimeoutError:  # the function may well have run: never retry this
                raise ExecutorError("The executor did not answer in time; the code may or may not have run. "
                                    "Check your files before running it again.") from None
            except BotoCoreError as error:
                raise ExecutorError(f"Calling the executor failed ({type(error).__name__}).") from None
        raise ExecutorError("The executor is busy; please try again in a minute.")


def _read_response(response: dict[str, Any]) -> dict[str, Any]:
    raw = response["Payload"].read()
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = None
    if response.get("FunctionError"):
        message = str((body or {}).get("errorMessage", "")) if isinstance(body, dict) else ""
        if "timed out" in message.lower():
            raise ExecutorError("The executor ran out of time before it could finish; files written by the "
                                "run may not have been saved.")
        kind = (body or {}).get("errorType", "error") if isinstance(body, dict) else "error"
        raise ExecutorError(f"The executor failed unexpectedly ({kind}); the code may not have run.")
    return body


def _client_error_message(code: str) -> str:
    if code in ("TooManyRequestsException", "ThrottlingException"):
        return "The executor is busy (too many runs at once); please try again in a minute."
    if code == "ResourceNotFoundException":
        return "The executor function was not found: check DELTA3_EXECUTOR_FUNCTION."
    if code in ("AccessDeniedException", "AccessDenied"):
        return "The app is not allowed to invoke the executor function (lambda:InvokeFunction)."
    if code == "RequestEntityTooLargeException":
        return "The code is too large to send to the executor."
    return f"Calling the executor failed ({code or 'unknown error'})."


class InProcessInvoker:
    """Calls executor_lambda.handler.handler in this process, through the same JSON the real invoke
    carries. For tests: moto cannot run Lambda code without Docker."""

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        from executor_lambda.handler import handler

        return json.loads(json.dumps(handler(json.loads(json.dumps(event)), None)))
