"""bootstrap-aws against moto: creates everything to spec, and a second run changes nothing."""

from __future__ import annotations

import pytest

from delta3_core.__main__ import main
from delta3_core.bootstrap import NONCURRENT_VERSION_DAYS, bootstrap_aws
from delta3_core.config import load_settings
from delta3_core.errors import ConfigError


def test_creates_bucket_table_and_key_to_spec(mock_aws_account):
    made = bootstrap_aws(session=mock_aws_account)
    s3 = mock_aws_account.client("s3")
    assert made.bucket == "delta3-workspaces-123456789012-eu-west-1"
    assert s3.get_bucket_versioning(Bucket=made.bucket)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=made.bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=made.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=made.bucket)["Rules"]
    assert lifecycle[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == NONCURRENT_VERSION_DAYS
    assert s3.get_bucket_location(Bucket=made.bucket)["LocationConstraint"] == "eu-west-1"

    dynamodb = mock_aws_account.client("dynamodb")
    table = dynamodb.describe_table(TableName=made.table)["Table"]
    assert made.table == "delta3"
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb.describe_time_to_live(TableName=made.table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")
    backups = dynamodb.describe_continuous_backups(TableName=made.table)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"

    kms = mock_aws_account.client("kms")
    assert kms.describe_key(KeyId="alias/delta3")["KeyMetadata"]["Arn"] == made.kms_key_id
    assert kms.get_key_rotation_status(KeyId=made.kms_key_id)["KeyRotationEnabled"] is True
    ciphertext = kms.encrypt(KeyId=made.kms_key_id, Plaintext=b"k", EncryptionContext={"user_id": "u1"})
    assert kms.decrypt(CiphertextBlob=ciphertext["CiphertextBlob"],
                       EncryptionContext={"user_id": "u1"})["Plaintext"] == b"k"


def test_second_run_reuses_everything_and_keeps_data(mock_aws_account):
    first = bootstrap_aws(session=mock_aws_account)
    s3, dynamodb, kms = (mock_aws_account.client(n) for n in ("s3", "dynamodb", "kms"))
    s3.put_object(Bucket=first.bucket, Key="users/u1/workspace/a.py", Body=b"print(1)")
    dynamodb.put_item(TableName=first.table, Item={"pk": {"S": "USER#u1"}, "sk": {"S": "PROFILE"}})

    second = bootstrap_aws(session=mock_aws_account)

    assert second == first
    assert len(kms.list_keys()["Keys"]) == 1  # no second key made
    assert s3.get_object(Bucket=first.bucket, Key="users/u1/workspace/a.py")["Body"].read() == b"print(1)"
    assert dynamodb.get_item(TableName=first.table, Key={"pk": {"S": "USER#u1"}, "sk": {"S": "PROFILE"}})["Item"]


def test_names_can_be_chosen(mock_aws_account):
    made = bootstrap_aws(name="d3test", bucket="my-d3-bucket", session=mock_aws_account)
    assert (made.bucket, made.table) == ("my-d3-bucket", "d3test")
    assert mock_aws_account.client("kms").describe_key(KeyId="alias/d3test")["KeyMetadata"]["Arn"] == made.kms_key_id


def test_cli_prints_settings_the_app_accepts(mock_aws_account, capsys):
    assert main(["bootstrap-aws"]) == 0
    out, err = capsys.readouterr()
    env = dict(line.split("=", 1) for line in out.splitlines())
    assert "table delta3: created" in err
    settings = load_settings(environ={**env, "DELTA3_SECRET_KEY": "x" * 40})
    assert settings.backend == "aws"
    assert settings.bucket.startswith("delta3-workspaces-")
    assert settings.kms_key_id.startswith("arn:aws:kms:eu-west-1:")
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1"  # the one boto3 reads

    assert main(["bootstrap-aws", "--quiet"]) == 0
    again, err = capsys.readouterr()
    assert again == out and err == ""


def test_table_with_foreign_schema_is_refused(mock_aws_account):
    mock_aws_account.client("dynamodb").create_table(
        TableName="delta3", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    with pytest.raises(ConfigError, match="another key schema"):
        bootstrap_aws(session=mock_aws_account)


def test_disabled_key_is_refused_not_replaced(mock_aws_account):
    kms = mock_aws_account.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/delta3", TargetKeyId=key)
    kms.disable_key(KeyId=key)
    with pytest.raises(ConfigError, match="Disabled"):
        bootstrap_aws(session=mock_aws_account)
    assert len(kms.list_keys()["Keys"]) == 1  # no second key made


@pytest.mark.parametrize("bucket", ["Bad_Name", "ab", "-starts-with-dash"])
def test_invalid_bucket_name_is_a_clear_error(mock_aws_account, bucket):
    with pytest.raises(ConfigError, match="not a valid S3 bucket name"):
        bootstrap_aws(bucket=bucket, session=mock_aws_account)
    assert mock_aws_account.client("s3").list_buckets()["Buckets"] == []


def test_missing_region_is_a_clear_error(fake_aws_env, monkeypatch, capsys):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert main(["bootstrap-aws"]) == 1
    assert "No AWS region is set" in capsys.readouterr().err


def test_reserved_alias_is_refused(mock_aws_account, capsys):
    assert main(["bootstrap-aws", "--key-alias", "alias/aws/s3"]) == 1
    assert "not a usable KMS alias" in capsys.readouterr().err
