"""Operator commands: `python -m delta3_core bootstrap-aws | rotate-keys | purge | reset-password | jobs`."""

from __future__ import annotations

import argparse
import sys

from .bootstrap import DEFAULT_NAME, bootstrap_aws
from .errors import Delta3Error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m delta3_core", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    boot = commands.add_parser(
        "bootstrap-aws",
        help="create the bucket, table and KMS key wherever boto3 points (AWS_PROFILE, AWS_ENDPOINT_URL...)",
        description="Create (or bring up to spec) the S3 bucket, DynamoDB table and KMS key that "
                    "infrastructure/template.yaml would, in the account or endpoint boto3 is pointed at. "
                    "Safe to run again. Prints the settings to use on stdout (progress goes to stderr), "
                    "so `python -m delta3_core bootstrap-aws >> .env` works.")
    boot.add_argument("--name", default=DEFAULT_NAME,
                      help="base name: table NAME, key alias alias/NAME, bucket NAME-workspaces-ACCOUNT-REGION")
    boot.add_argument("--bucket", help="bucket name (default from --name, account and region)")
    boot.add_argument("--table", help="DynamoDB table name (default: --name)")
    boot.add_argument("--key-alias", help="KMS key alias (default: alias/NAME)")
    boot.add_argument("--quiet", action="store_true", help="print only the settings")
    commands.add_parser(
        "rotate-keys", help="re-encrypt stored Gemini keys under the current DELTA3_SECRET_KEY (local backend)",
        description="Set the new DELTA3_SECRET_KEY, put the old one in DELTA3_OLD_SECRET_KEYS, run this, "
                    "then drop DELTA3_OLD_SECRET_KEYS. Safe to run again.")
    commands.add_parser(
        "purge", help="finish purging deleted accounts whose data removal failed part-way",
        description="Account deletion removes the account at once and its data right after; what failed "
                    "(the store or S3 down) stays queued. This retries every queued purge. Safe to run again.")
    reset = commands.add_parser(
        "reset-password", help="print a one-time password reset code for an account without a phone",
        description="Prints a 6-digit code, valid for one hour, that the user enters with a new password "
                    "under 'Forgot password?' (or POST /auth/password-reset/confirm). Pass it on in person.")
    reset.add_argument("email")
    commands.add_parser(
        "jobs", help="list the durable turn queue: pending, running and failed jobs with their age",
        description="Messages accepted by SMS (and the API's asynchronous turns) that are not answered yet, "
                    "oldest first, then the failed ones of the past week. Reads the store the settings name.")
    return parser


def _account_command(args: argparse.Namespace) -> int:
    from . import accounts
    from .services import build_services

    try:
        services = build_services()
        if args.command == "purge":
            done, left = accounts.purge_pending(services)
            if left < 0:
                print("error: the purge queue could not be read; try again.", file=sys.stderr)
                return 1
            print(f"{done} deleted account(s) purged; {left} still queued.")
            return 0 if left == 0 else 1
        code = accounts.operator_code(services, args.email)
    except Delta3Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"One-time reset code for {args.email}: {code} (valid for one hour; "
          "enter it under 'Forgot password?' with a new password)")
    return 0


def _jobs() -> int:
    from .config import load_settings
    from .storage import open_backend
    from .turns.listing import list_jobs

    try:
        print("\n".join(list_jobs(open_backend(load_settings()).records)))
    except Delta3Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    args = _parser().parse_args(argv)
    if args.command == "jobs":
        return _jobs()
    if args.command == "rotate-keys":
        from .storage.rotate import main as rotate_keys

        return rotate_keys()
    if args.command in ("purge", "reset-password"):
        return _account_command(args)
    log = (lambda _msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    try:
        resources = bootstrap_aws(name=args.name, bucket=args.bucket, table=args.table,
                                  key_alias=args.key_alias, log=log)
    except Delta3Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(resources.env_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
