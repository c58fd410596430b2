"""moto's server (DynamoDB, SQS, S3 and the rest of its services) in a process of its own.

    python -m chartguard.aws_standin [--host 127.0.0.1] [--port 0]

Prints one line `listening on http://<host>:<port>` once it accepts requests, and stops on
SIGINT/SIGTERM. In its own process the stand-in's work runs beside the scoring function's on
another core instead of contending with it for one interpreter lock.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any, Optional


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chartguard.aws_standin", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback by default)")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"listening on http://{host}:{port}", flush=True)
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stopping.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
