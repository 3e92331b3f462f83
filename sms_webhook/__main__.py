"""`python -m sms_webhook --host H --port P`: serve the Twilio webhook and the REST API with waitress."""

from __future__ import annotations

import argparse
import logging
import sys

from delta3_core.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, build the app and serve it until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m sms_webhook",
                                     description="DELTA3 HTTP service: the Twilio SMS webhook and the REST API")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    # Each request may wait up to DELTA3_SMS_REPLY_WAIT for a quick answer, holding a thread meanwhile.
    parser.add_argument("--threads", type=int, default=64, help="request threads (default 64)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from waitress import serve

    from . import create_app

    try:
        app = create_app()
    except ConfigError as error:
        print(f"sms_webhook: {error}", file=sys.stderr)
        return 2
    import delta3_core.agent  # noqa: F401  (loaded now, so the first text does not pay for the import)
    try:
        serve(app, host=args.host, port=args.port, threads=args.threads, ident="delta3")
    finally:
        app.extensions["delta3_sms"].close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
