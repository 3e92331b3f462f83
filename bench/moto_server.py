"""Start moto's HTTP server for a benchmark, quietly, with boto3 pointed at it through the environment."""

from __future__ import annotations

import logging
import os
import socket


def start_moto_server(region: str = "us-east-1"):
    """Start ThreadedMotoServer on a free loopback port, set fake credentials and AWS_ENDPOINT_URL; return it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request otherwise
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=region,
                      AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}")
    return server
