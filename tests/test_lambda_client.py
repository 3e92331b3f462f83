"""The Lambda executor client: per-user credentials, invoke with TenantId, failures mapped to clear errors."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import ANY, Stubber

from delta3_core.errors import ExecutorError, ValidationError
from delta3_core.executor.aws_lambda import client as client_module
from delta3_core.executor.aws_lambda.client import LambdaExecutor
from delta3_core.executor.aws_lambda.credentials import CredentialMinter, session_policy


def test_the_session_policy_reaches_only_the_users_own_prefix():
    policy = session_policy("bucket-1", "alice")
    objects, listing = policy["Statement"]
    assert objects["Resource"] == "arn:aws:s3:::bucket-1/users/alice/workspace/*"
    assert "s3:ListBucket" not in objects["Action"] and "s3:*" not in json.dumps(policy)
    assert listing["Condition"]["StringLike"]["s3:prefix"] == ["users/alice/workspace/", "users/alice/workspace/*"]
    # user ids are made by the app (uuid hex); none that could widen or bend the policy gets through
    for user_id in ("*", "a*", "a?", "a/b", "..", "../bob", "alice\n", "", "x" * 65):
        with pytest.raises(ValidationError):
            session_policy("bucket-1", user_id)


def test_credentials_come_from_sts_and_are_reused_while_fresh(s3):
    sts = boto3.client("sts")
    calls = []
    sts.meta.events.register("before-call.sts.*", lambda **kw: calls.append(kw["model"].name))
    minter = CredentialMinter(s3[1], role_arn="arn:aws:iam::123456789012:role/delta3-executor-scope", sts_client=sts)
    first = minter.credentials("alice")
    assert minter.credentials("alice") is first and calls == ["AssumeRole"]
    assert minter.credentials("bob")["access_key_id"] != first["access_key_id"]


def test_sts_failure_is_a_clear_executor_error():
    sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(sts) as stub:
        stub.add_client_error("get_federation_token", "AccessDenied")
        with pytest.raises(ExecutorError, match="could not get storage credentials"):
            CredentialMinter("bucket-1", sts_client=sts).credentials("alice")


class FixedMinter:
    def credentials(self, user_id):
        return {"access_key_id": "AK", "secret_access_key": "SK", "session_token": "T", "expires_at": 0}


@pytest.fixture
def stubbed(lambda_settings, monkeypatch):
    monkeypatch.setattr(client_module, "RETRY_DELAYS_S", (0, 0))
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    executor = LambdaExecutor(lambda_settings, None, lambda_client=client, minter=FixedMinter())
    with Stubber(client) as stub:
        yield executor, stub


def payload(body):
    return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}


OK_BODY = {"ok": True, "result": {"stdout": "1\n", "exit_code": 0, "message": "Finished successfully (exit code 0)."}}


def test_invoke_names_the_tenant_and_the_function(stubbed):
    executor, stub = stubbed
    expected = {"FunctionName": "delta3-test-executor", "InvocationType": "RequestResponse", "TenantId": "alice",
                "Payload": ANY}
    stub.add_response("invoke", payload(OK_BODY), expected)
    assert executor.run("alice", "python", "print(1)").stdout == "1\n"


def test_throttling_is_retried_then_succeeds(stubbed):
    executor, stub = stubbed
    stub.add_client_error("invoke", "TooManyRequestsException", http_status_code=429)
    stub.add_response("invoke", payload(OK_BODY))
    assert executor.run("alice", "python", "print(1)").exit_code == 0


def test_persistent_throttling_says_the_executor_is_busy(stubbed):
    executor, stub = stubbed
    for _ in range(3):
        stub.add_client_error("invoke", "TooManyRequestsException", http_status_code=429)
    with pytest.raises(ExecutorError, match="busy"):
        executor.run("alice", "python", "print(1)")


def test_a_function_error_and_a_function_timeout_are_explained(stubbed):
    executor, stub = stubbed
    crash = {"StatusCode": 200, "FunctionError": "Unhandled",
             "Payload": io.BytesIO(b'{"errorType": "Runtime.ExitError", "errorMessage": "exited"}')}
    timeout = {"StatusCode": 200, "FunctionError": "Unhandled",
               "Payload": io.BytesIO(b'{"errorMessage": "2025-01-01 Task timed out after 60.00 seconds"}')}
    stub.add_response("invoke", crash)
    stub.add_response("invoke", timeout)
    with pytest.raises(ExecutorError, match=r"failed unexpectedly \(Runtime.ExitError\)"):
        executor.run("alice", "python", "print(1)")
    with pytest.raises(ExecutorError, match="ran out of time"):
        executor.run("alice", "python", "print(1)")


def test_a_domain_error_from_the_handler_reaches_the_user(stubbed):
    executor, stub = stubbed
    stub.add_response("invoke", payload({"ok": False, "error": "ExecutorError", "message": "Storage is down."}))
    with pytest.raises(ExecutorError, match="Storage is down."):
        executor.run("alice", "python", "print(1)")


def test_a_read_timeout_is_never_retried(lambda_settings):
    class TimingOut:
        calls = 0

        def invoke(self, **kwargs):
            TimingOut.calls += 1
            raise ReadTimeoutError(endpoint_url="https://lambda")

    executor = LambdaExecutor(lambda_settings, None, lambda_client=TimingOut(), minter=FixedMinter())
    with pytest.raises(ExecutorError, match="may or may not have run"):
        executor.run("alice", "python", "print(1)")
    assert TimingOut.calls == 1


def test_moto_accepts_tenant_id_and_a_missing_function_is_named(lambda_settings, s3):
    executor = LambdaExecutor(lambda_settings, None, lambda_client=boto3.client("lambda"), minter=FixedMinter())
    with pytest.raises(ExecutorError, match="DELTA3_EXECUTOR_FUNCTION"):
        executor.run("alice", "python", "print(1)")


def test_access_denied_names_the_missing_permission(stubbed):
    executor, stub = stubbed
    stub.add_client_error("invoke", "AccessDeniedException", http_status_code=403)
    with pytest.raises(ExecutorError, match="lambda:InvokeFunction"):
        executor.run("alice", "python", "print(1)")
