#!/usr/bin/env bash
# Delete one stage of DELTA3 on AWS: empty the versioned workspace bucket (every version and
# delete marker), then delete the stack. Users' files, history and accounts are gone for good;
# the KMS key is scheduled for deletion after its 7-day waiting period.
#
# Usage: ./teardown.sh <stage> [--yes]
set -euo pipefail
cd "$(dirname "$0")"

usage() { echo "usage: $0 <stage> [--yes]" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
stage="$1"
[[ "$stage" =~ ^[a-z][a-z0-9-]{0,15}$ ]] || usage
[ $# -eq 1 ] || [ "$2" = --yes ] || usage
stack="delta3-$stage"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] && python=.venv/bin/python

for tool in sam aws; do
  command -v "$tool" >/dev/null || { echo "error: '$tool' is not installed." >&2; exit 1; }
done

output() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue | [0]" --output text
}
bucket="$(output BucketName)" || { echo "error: no stack named $stack in this account and region." >&2; exit 1; }
app_user="$(output AppUserName)"

if [ "${2:-}" != --yes ]; then
  echo "This deletes $stack and every user's files in s3://$bucket, history and accounts, for good."
  read -r -p "Type the stage name ($stage) to confirm: " answer
  [ "$answer" = "$stage" ] || { echo "Not confirmed; nothing deleted."; exit 1; }
fi

if [ -n "$bucket" ] && [ "$bucket" != None ]; then
  echo "==> emptying s3://$bucket (all versions)"
  # CloudFormation cannot delete a bucket that still holds objects or old versions.
  "$python" - "$bucket" <<'EOF'
import sys

import boto3

bucket = boto3.resource("s3").Bucket(sys.argv[1])
deleted = sum(len(batch.get("Deleted", [])) for batch in bucket.object_versions.delete())
print(f"deleted {deleted} object versions and delete markers")
EOF
fi

if [ -n "$app_user" ] && [ "$app_user" != None ]; then
  # Keys made with create-access-key are not the stack's, and IAM refuses to delete a user that has any.
  for key in $(aws iam list-access-keys --user-name "$app_user" --query "AccessKeyMetadata[].AccessKeyId" \
               --output text); do
    echo "==> deleting access key $key of $app_user"
    aws iam delete-access-key --user-name "$app_user" --access-key-id "$key"
  done
fi

echo "==> deleting stack $stack"
sam delete --stack-name "$stack" --no-prompts
echo "Done. $stack is deleted."
