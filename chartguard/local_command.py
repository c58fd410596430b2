"""`chartguard local`: run the local stack (local/stack.py) until Ctrl-C."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from local import stack
from local.stop_signal import stop_event_on_signals


def _run_local(args: argparse.Namespace) -> int:
    stopping = stop_event_on_signals()
    with stack.LocalStack(
        model_dir=args.model_dir,
        moto_port=args.moto_port,
        endpoint_port=args.endpoint_port,
        fail_rate=args.fail_rate,
        concurrency=args.concurrency,
    ) as running:
        running.write_env_file(args.env_file)
        print(f"# the local stack is up; `source {args.env_file}` in another shell, then e.g.:")
        print("#   chartguard send --user-id u-123 --withdrawal-id w-1")
        print(running.export_lines(), end="", flush=True)
        last = -1
        while not stopping.wait(5):
            if running.stats.received != last:
                last = running.stats.received
                s = running.stats
                print(
                    f"# scored {s.succeeded}, failed {s.failed} (retried or dead-lettered), batches {s.batches}",
                    flush=True,
                )
        print("# stopping", flush=True)
    args.env_file.unlink(missing_ok=True)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "local",
        help="run the whole stack on this machine (moto, endpoint stand-in, event source)",
        description=stack.__doc__.split("\n\n", 1)[1] if stack.__doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: chartguard local   # then, elsewhere: source .local/stack.env",
    )
    parser.add_argument("--model-dir", type=Path, default=stack.DEFAULT_MODEL_DIR)
    parser.add_argument("--env-file", type=Path, default=stack.DEFAULT_ENV_FILE)
    parser.add_argument("--moto-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--endpoint-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--fail-rate", type=float, default=0.0, help="share of endpoint calls to fail (fault drill)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=2, help="event-source workers, like Lambda's concurrent executions"
    )
    parser.set_defaults(run=_run_local)
