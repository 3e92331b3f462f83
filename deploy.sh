#!/usr/bin/env bash
# Deploy DELTA3's AWS stack for one stage: sam build + sam deploy, then print the outputs,
# the Twilio webhook URL and the settings for the Streamlit app.
#
# Usage: ./deploy.sh <stage>            (stage: dev, prod, ...; the stack is named delta3-<stage>)
# Needs: AWS credentials (aws configure / AWS_PROFILE), the AWS CLI, the SAM CLI, a running Docker (it
#        builds the executor's container image), and python3.12 (or SAM_USE_CONTAINER=1). Secrets come from the environment or .env.<stage>:
#        DELTA3_SECRET_KEY, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER;
#        optional: DELTA3_MODEL, DELTA3_PUBLIC_URL, SAM_PARAMETERS (extra "Name=Value ..." overrides).
set -euo pipefail
cd "$(dirname "$0")"

usage() { echo "usage: $0 <stage>   (lowercase letters, digits and '-', e.g. dev or prod)" >&2; exit 2; }
[ $# -eq 1 ] || usage
stage="$1"
[[ "$stage" =~ ^[a-z][a-z0-9-]{0,15}$ ]] || usage
stack="delta3-$stage"

for tool in sam aws; do
  command -v "$tool" >/dev/null || { echo "error: '$tool' is not installed (see README: Deploy to AWS)." >&2; exit 1; }
done

# Values already in the environment win over the stage's env file.
env_file=".env.$stage"
read_env_file() {
  local name="$1" line
  [ -f "$env_file" ] || return 0
  line="$(grep -E "^[[:space:]]*${name}=" "$env_file" | tail -n 1 || true)"
  line="${line#*=}"
  line="${line%\"}"; line="${line#\"}"
  printf '%s' "$line"
}
for name in DELTA3_SECRET_KEY TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN TWILIO_PHONE_NUMBER DELTA3_MODEL DELTA3_PUBLIC_URL; do
  if [ -z "${!name:-}" ]; then
    value="$(read_env_file "$name")"
    [ -n "$value" ] && export "$name=$value"
  fi
done
missing=()
for name in DELTA3_SECRET_KEY TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN TWILIO_PHONE_NUMBER; do
  [ -n "${!name:-}" ] || missing+=("$name")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "error: set ${missing[*]} in the environment or in $env_file (see env.example)." >&2
  exit 1
fi
if [ "${#DELTA3_SECRET_KEY}" -lt 32 ]; then
  echo "error: DELTA3_SECRET_KEY is too short: use at least 32 random characters." >&2
  exit 1
fi

# Stage each function's code: only the packages it runs, plus its own requirements.
build_root="infrastructure/.build"
rm -rf "$build_root"
stage_code() {  # stage_code <function> <package>...
  local target="$build_root/$1"; shift
  mkdir -p "$target"
  tar --exclude='__pycache__' --exclude='*.pyc' -cf - "$@" | tar -xf - -C "$target"
  cp "infrastructure/requirements-$(basename "$target").txt" "$target/requirements.txt"
}
stage_code executor delta3_core executor_lambda
stage_code webhook delta3_core sms_webhook

# The executor is a container image (executor_lambda/Dockerfile), which sam build makes with Docker.
if ! docker info >/dev/null 2>&1; then
  echo "error: sam build needs a running Docker to build the executor's container image (docker info failed)." >&2
  exit 1
fi
build_flags=(--template-file infrastructure/template.yaml --build-dir ".aws-sam/build-$stage" --cached
             --cache-dir ".aws-sam/cache-$stage")
if [ "${SAM_USE_CONTAINER:-0}" = 1 ]; then
  build_flags+=(--use-container)
elif ! command -v python3.12 >/dev/null; then
  echo "error: sam build needs python3.12 on PATH (the Lambda runtime), or Docker with SAM_USE_CONTAINER=1." >&2
  exit 1
fi
echo "==> sam build ($stack)"
sam build "${build_flags[@]}"

parameters=("Stage=$stage" "SecretKey=$DELTA3_SECRET_KEY" "TwilioAccountSid=$TWILIO_ACCOUNT_SID"
            "TwilioAuthToken=$TWILIO_AUTH_TOKEN" "TwilioPhoneNumber=$TWILIO_PHONE_NUMBER"
            "PublicUrl=${DELTA3_PUBLIC_URL:-}")
[ -n "${DELTA3_MODEL:-}" ] && parameters+=("GeminiModel=$DELTA3_MODEL")
# shellcheck disable=SC2206  # SAM_PARAMETERS is a space-separated list on purpose
[ -n "${SAM_PARAMETERS:-}" ] && parameters+=($SAM_PARAMETERS)

echo "==> sam deploy ($stack)"
sam deploy --template-file ".aws-sam/build-$stage/template.yaml" --stack-name "$stack" \
  --capabilities CAPABILITY_IAM --resolve-s3 --resolve-image-repos --no-confirm-changeset --no-fail-on-empty-changeset \
  --tags "delta3:stage=$stage" --parameter-overrides "${parameters[@]}"

output() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue | [0]" --output text
}
echo
echo "==> outputs of $stack"
aws cloudformation describe-stacks --stack-name "$stack" \
  --query "Stacks[0].Outputs[].[OutputKey,OutputValue]" --output table

webhook_url="$(output TwilioWebhookUrl)"
app_user="$(output AppUserName)"
cat <<EOF

Twilio webhook URL (Twilio console > Phone Numbers > $TWILIO_PHONE_NUMBER > Messaging >
"A message comes in": Webhook, HTTP POST):

    $webhook_url

Streamlit app settings (.streamlit/secrets.toml, or Streamlit Community Cloud > App settings > Secrets):

    DELTA3_BACKEND = "aws"
    DELTA3_EXECUTOR = "lambda"
    DELTA3_BUCKET = "$(output BucketName)"
    DELTA3_TABLE = "$(output TableName)"
    DELTA3_KMS_KEY_ID = "$(output KmsKeyId)"
    DELTA3_EXECUTOR_FUNCTION = "$(output ExecutorFunctionName)"
    DELTA3_EXECUTOR_ROLE_ARN = "$(output ExecutorRoleArn)"
    DELTA3_PUBLIC_URL = "${webhook_url%/twilio/webhook}"
    DELTA3_SECRET_KEY = "<the same DELTA3_SECRET_KEY you deployed with>"
    TWILIO_ACCOUNT_SID = "$TWILIO_ACCOUNT_SID"
    TWILIO_AUTH_TOKEN = "<the same TWILIO_AUTH_TOKEN you deployed with>"
    TWILIO_PHONE_NUMBER = "$TWILIO_PHONE_NUMBER"
    AWS_DEFAULT_REGION = "$(output Region)"
EOF
if [ -n "$app_user" ] && [ "$app_user" != "None" ]; then
  cat <<EOF
    AWS_ACCESS_KEY_ID = "<from: aws iam create-access-key --user-name $app_user>"
    AWS_SECRET_ACCESS_KEY = "<from the same command>"
EOF
fi
echo
echo "A Streamlit host running as an IAM role instead: attach $(output AppPolicyArn)"
echo "and tag the role delta3-app=$stack (so it may mint per-user run credentials)."
