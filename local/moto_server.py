"""moto's server (DynamoDB, SQS, S3 and the rest of its services) in a process of its own.

    python -m local.moto_server [--host 127.0.0.1] [--port 0]

Prints one line `listening on http://<host>:<port>` once it accepts requests, and stops on
SIGINT/SIGTERM. In its own process the stand-in's work runs beside the scoring function's on
another core instead of contending with it for one interpreter lock.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional

from local.stop_signal import stop_event_on_signals


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.moto_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback by default)")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"listening on http://{host}:{port}", flush=True)
    stop_event_on_signals().wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
