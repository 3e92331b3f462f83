"""Re-encrypt every stored Gemini key under the current local master secret.

Usage (local backend), after choosing a new secret:
    DELTA3_SECRET_KEY=<new> DELTA3_OLD_SECRET_KEYS=<old> python -m delta3_core rotate-keys
Then drop DELTA3_OLD_SECRET_KEYS. Safe to run again; keys it cannot read are left untouched.
"""

from __future__ import annotations

import sys

from ..config import load_settings
from ..errors import Delta3Error
from . import open_backend
from .ciphers import rotate_local_keys


def main() -> int:
    """Run the rotation for the configured local backend; print what happened."""
    try:
        settings = load_settings()
        if settings.backend != "local":
            print("Key rotation is for the local backend; on AWS, KMS rotates its key itself.", file=sys.stderr)
            return 2
        report = rotate_local_keys(open_backend(settings))
    except Delta3Error as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"rotated {report['rotated']}, already current {report['current']}, unreadable {report['unreadable']}")
    return 1 if report["unreadable"] else 0


if __name__ == "__main__":
    sys.exit(main())
