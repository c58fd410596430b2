"""`chartguard`: the command-line tool of the business system, market data, analysts and operators.

Every subcommand talks to AWS through boto3's default credential chain, or to the local stack
once `.local/stack.env` is sourced (it sets AWS_ENDPOINT_URL and the resource names).
`chartguard <command> --help` explains each.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional

from chartguard import analyst, business, demo, load_tables, local_command
from chartguard.stack_access import UserError

# Each module contributes its subcommands: register(subparsers) adds parsers whose `run`
# default takes the parsed arguments and returns an exit code.
MODULES = (business, load_tables, analyst, local_command, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chartguard",
        description="Withdrawal-time account-takeover detection: send withdrawals, load market data, "
        "work the risk table, run the local stack.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in MODULES:
        module.register(subparsers)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except UserError as error:
        print(f"chartguard {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
