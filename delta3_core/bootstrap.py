"""Create the bucket, table and KMS key the AWS template would, wherever boto3 points (idempotent)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from .errors import ConfigError, StorageError

DEFAULT_NAME = "delta3"
NONCURRENT_VERSION_DAYS = 30  # old versions of workspace files are kept this long (undo window)
NO_REGION = "No AWS region is set: set AWS_DEFAULT_REGION (for example AWS_DEFAULT_REGION=us-east-1)."
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

Log = Callable[[str], None]


@dataclass(frozen=True)
class AwsResources:
    """What bootstrap made (or found): the values for DELTA3_BUCKET, DELTA3_TABLE, DELTA3_KMS_KEY_ID."""

    bucket: str
    table: str
    kms_key_id: str
    region: str

    def env_lines(self) -> list[str]:
        """The settings to put in the app's environment (or .env / Streamlit secrets)."""
        return [
            "DELTA3_BACKEND=aws",
            f"DELTA3_BUCKET={self.bucket}",
            f"DELTA3_TABLE={self.table}",
            f"DELTA3_KMS_KEY_ID={self.kms_key_id}",
            # boto3 reads only AWS_DEFAULT_REGION; AWS_REGION is what Lambda and other SDKs use.
            f"AWS_DEFAULT_REGION={self.region}",
            f"AWS_REGION={self.region}",
        ]


def bootstrap_aws(name: str = DEFAULT_NAME, bucket: str | None = None, table: str | None = None,
                  key_alias: str | None = None, session: boto3.Session | None = None,
                  log: Log = lambda _msg: None) -> AwsResources:
    """Create (or bring up to spec) the bucket, table and key; safe to run again."""
    session = session or boto3.Session()
    region = session.region_name
    if not region:
        raise ConfigError(NO_REGION)
    try:
        if bucket is None:
            account = session.client("sts").get_caller_identity()["Account"]
            bucket = f"{name}-workspaces-{account}-{region}"
        if not _BUCKET_NAME.match(bucket):
            raise ConfigError(f"{bucket!r} is not a valid S3 bucket name (3-63 lowercase letters, digits, '-', '.').")
        ensure_bucket(session.client("s3"), bucket, region, log)
        table = table or name
        ensure_table(session.client("dynamodb"), table, log)
        key_id = ensure_key(session.client("kms"), key_alias or f"alias/{name}", log)
    except NoCredentialsError:
        raise ConfigError("No AWS credentials found: run 'aws configure' or set AWS_PROFILE / "
                          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.") from None
    except NoRegionError:
        raise ConfigError(NO_REGION) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise StorageError(f"AWS refused {exc.operation_name}: {error.get('Code', 'error')}: "
                           f"{error.get('Message', '')}".rstrip(": ") + ".") from None
    except BotoCoreError as exc:
        raise StorageError(f"Could not reach AWS: {exc}.") from None
    return AwsResources(bucket=bucket, table=table, kms_key_id=key_id, region=region)


def _error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _existing(describe: Callable[[], dict], missing_code: str) -> dict | None:
    """What `describe()` returns, or None when AWS answers `missing_code` (the resource does not exist)."""
    try:
        return describe()
    except ClientError as exc:
        if _error_code(exc) != missing_code:
            raise
        return None


def ensure_bucket(s3, bucket: str, region: str, log: Log) -> None:
    """Create the workspace bucket if missing; (re)apply versioning, encryption, public block, lifecycle."""
    try:
        s3.head_bucket(Bucket=bucket)
        log(f"bucket {bucket}: exists")
    except ClientError as exc:
        if _error_code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
            if _error_code(exc) in {"403", "Forbidden"}:
                raise ConfigError(f"The bucket name {bucket!r} belongs to another AWS account; "
                                  "choose another with --bucket.") from None
            raise
        kwargs = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **kwargs)
        log(f"bucket {bucket}: created")
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "expire-old-versions", "Status": "Enabled", "Filter": {"Prefix": ""},
         "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_VERSION_DAYS},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
    ]})
    log(f"bucket {bucket}: versioning, AES256 encryption, public access block, lifecycle applied")


def ensure_table(dynamodb, table: str, log: Log) -> None:
    """Create the pk/sk on-demand table if missing; turn on TTL (`ttl`) and point-in-time recovery."""
    description = _existing(lambda: dynamodb.describe_table(TableName=table)["Table"], "ResourceNotFoundException")
    if description is not None:
        keys = {k["AttributeName"]: k["KeyType"] for k in description["KeySchema"]}
        if keys != {"pk": "HASH", "sk": "RANGE"}:
            raise ConfigError(f"The DynamoDB table {table!r} exists with another key schema; "
                              "choose another name with --table.")
        log(f"table {table}: exists")
    else:
        dynamodb.create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )  # encrypted at rest with the AWS owned key: free, unlike an AWS managed KMS key
        log(f"table {table}: created")
    dynamodb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 2, "MaxAttempts": 60})
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"}:
        # Sessions, dedupe claims and rate-limit counters carry `ttl` so DynamoDB deletes them for free.
        dynamodb.update_time_to_live(TableName=table,
                                     TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    dynamodb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    log(f"table {table}: TTL on 'ttl', point-in-time recovery applied")


def ensure_key(kms, alias: str, log: Log) -> str:
    """Find the key behind `alias` or create it; turn on yearly rotation; return the key ARN."""
    if not alias.startswith("alias/") or alias.startswith("alias/aws/"):
        raise ConfigError(f"{alias!r} is not a usable KMS alias: it must start with 'alias/' and not 'alias/aws/'.")
    metadata = _existing(lambda: kms.describe_key(KeyId=alias)["KeyMetadata"], "NotFoundException")
    if metadata is not None:
        if metadata.get("KeyState") != "Enabled":
            raise ConfigError(f"The KMS key behind {alias} is {metadata.get('KeyState')}; "
                              "enable it or choose another alias with --key-alias.")
        log(f"key {alias}: exists")
    else:
        metadata = kms.create_key(Description="DELTA3: encrypts users' Gemini API keys",
                                  KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]
        kms.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
        log(f"key {alias}: created")
    kms.enable_key_rotation(KeyId=metadata["KeyId"])
    log(f"key {alias}: rotation enabled")
    return metadata["Arn"]
