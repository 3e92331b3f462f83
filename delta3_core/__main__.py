"""Command line: `python -m delta3_core bootstrap-aws | rotate-keys | jobs` (operator tasks)."""

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
        "jobs", help="list the durable turn queue: pending, running and failed jobs with their age",
        description="Messages accepted by SMS (and the API's asynchronous turns) that are not answered yet, "
                    "oldest first, then the failed ones of the past week. Reads the store the settings name.")
    return parser


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
