"""The analysts' commands: work the risk table (contract 4) and trace the money.

    chartguard flags  --day 2026-11-20               a day's flags, highest score first (by-day index)
    chartguard show   USER_ID [--download DIR]       an account's risk records and evidence
    chartguard export --day 2026-11-20 --out f.csv   every attribute of the flags, as CSV
    chartguard report --day 2026-11-20 --out r.html  one self-contained HTML report
    chartguard trace  USER_ID                        the counterparties and the value moved

The logic is plain functions that take boto3 clients and table names (chartguard.table_reads,
record_format, evidence, trace, daily_report), so tests call them against moto's server; this
module holds the commands' arguments and the `run_*` functions, which read the configuration and print.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from chartguard import trace as tracing
from chartguard.daily_report import DEFAULT_REPORT_LIMIT, write_report
from chartguard.evidence import download_evidence
from chartguard.record_format import flags_table, plain, record_text, write_csv
from chartguard.stack_access import StackConfig, UserError, client
from chartguard.table_reads import days_between, flags_of_day, records_of_user


def parse_day(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day as YYYY-MM-DD") from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def _print_json(value: Any) -> None:
    json.dump(plain(value), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def run_flags(args: argparse.Namespace) -> int:
    table = StackConfig.from_environ().require("risk_table")
    records = flags_of_day(client("dynamodb"), table, args.day, limit=args.limit, min_score=args.min_score)
    if args.json:
        _print_json(records)
    elif records:
        print(flags_table(records))
    else:
        print(f"no flags on {args.day} in {table}", file=sys.stderr)
    return 0


def run_show(args: argparse.Namespace) -> int:
    table = StackConfig.from_environ().require("risk_table")
    records = records_of_user(client("dynamodb"), table, args.user_id, withdrawal_id=args.withdrawal_id)
    if not records:
        which = f" for withdrawal {args.withdrawal_id}" if args.withdrawal_id else ""
        print(f"no risk records of {args.user_id}{which} in {table}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(records)
    else:
        print("\n\n".join(record_text(r) for r in records))
    if args.download:
        paths = download_evidence(client("s3"), records, Path(args.download))
        for path in paths:
            print(f"wrote {path}", file=sys.stderr)
    return 0


def run_export(args: argparse.Namespace) -> int:
    if args.day and (args.first or args.last):
        raise UserError("give --day, or --from and --to, not both")
    if args.day:
        days = [args.day]
    elif args.first and args.last:
        days = days_between(args.first, args.last)
    else:
        raise UserError("give --day D, or --from D1 --to D2")
    table = StackConfig.from_environ().require("risk_table")
    dynamodb = client("dynamodb")
    records = [record for day in days for record in flags_of_day(dynamodb, table, day)]
    if args.out == "-":
        write_csv(records, sys.stdout)
    else:
        try:
            with open(args.out, "w", newline="", encoding="utf-8") as out:
                write_csv(records, out)
        except OSError as error:
            raise UserError(f"cannot write {args.out}: {error.strerror or error}") from error
        print(f"wrote {len(records)} flags of {days[0]}..{days[-1]} to {args.out}", file=sys.stderr)
    return 0


def run_report(args: argparse.Namespace) -> int:
    config = StackConfig.from_environ()
    count = write_report(
        client("dynamodb"),
        client("s3"),
        risk_table=config.require("risk_table"),
        trades_table=config.require("trades_table"),
        klines_table=config.require("klines_table"),
        day=args.day,
        out=Path(args.out),
        limit=args.limit,
        progress=lambda text: print(f"  {text}", file=sys.stderr),
    )
    print(f"wrote {args.out}: {count} flagged withdrawals of {args.day}", file=sys.stderr)
    return 0


def run_trace(args: argparse.Namespace) -> int:
    config = StackConfig.from_environ()
    risk_table = config.require("risk_table")
    trades_table, klines_table = config.require("trades_table"), config.require("klines_table")
    dynamodb = client("dynamodb")
    records = records_of_user(dynamodb, risk_table, args.user_id, withdrawal_id=args.withdrawal_id)
    if args.day:
        records = [r for r in records if r.get("day") == args.day]
    elif not args.withdrawal_id:
        records = records[:1]  # the latest flag
    if not records:
        raise UserError(
            f"no risk record of {args.user_id} matches; the trace follows a flagged withdrawal's window "
            f"(`chartguard show {args.user_id}` lists them)"
        )
    traces = [
        tracing.trace_record(dynamodb, r, trades_table=trades_table, klines_table=klines_table)
        for r in records
    ]
    if args.json:
        _print_json([tracing.trace_as_json(t) for t in traces])
    else:
        print("\n\n".join(tracing.trace_text(t) for t in traces))
    return 0


_ENVIRONMENT = (
    "Reads the tables named by RISK_TABLE (TRADES_TABLE and KLINES_TABLE for trace and report)\n"
    "and the evidence objects each record names, with the default AWS credential chain;\n"
    "`source .local/stack.env` points it at the local stack."
)


def _parser(subparsers: Any, name: str, summary: str, description: str, examples: str) -> Any:
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=f"{description}\n\n{_ENVIRONMENT}",
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def register(subparsers: Any) -> None:
    """Add flags, show, export, report and trace to the `chartguard` command."""
    flags = _parser(
        subparsers,
        "flags",
        "list a day's flagged withdrawals, highest score first",
        "List the risk records of one day (UTC, the day of requested_at) from the risk table's\n"
        "by-day index, highest score first: score, user, withdrawal, requested_at, each symbol's\n"
        "P(hacker), trades in the window, amount and asset when the message had them, status.",
        "  chartguard flags --day 2026-11-20\n"
        "  chartguard flags --day 2026-11-20 --limit 10 --min-score 0.97\n"
        "  chartguard flags --day 2026-11-20 --json | jq '.[0]'\n",
    )
    flags.add_argument("--day", type=parse_day, default=_today(), help="YYYY-MM-DD, UTC (default: today)")
    flags.add_argument("--limit", type=_positive_int, help="at most N flags (the N highest)")
    flags.add_argument("--min-score", type=float, metavar="S", help="only scores >= S")
    flags.add_argument("--json", action="store_true", help="the records as a JSON array")
    flags.set_defaults(run=run_flags)

    show = _parser(
        subparsers,
        "show",
        "show an account's risk records and their evidence",
        "Show every risk record of one account, newest first, with the s3:// URIs of the images\n"
        "the model scored. --download writes those PNGs under DIR/<day>/<user>/<withdrawal>/.\n"
        "Exit status 1 when the account has no record.",
        "  chartguard show U-1042\n"
        "  chartguard show U-1042 --withdrawal-id W-88 --download evidence/\n"
        "  chartguard show U-1042 --json\n",
    )
    show.add_argument("user_id", metavar="USER_ID")
    show.add_argument("--withdrawal-id", metavar="W", help="only the record of this withdrawal")
    show.add_argument("--download", metavar="DIR", help="write the evidence PNGs under DIR")
    show.add_argument("--json", action="store_true", help="the records as a JSON array")
    show.set_defaults(run=run_show)

    export = _parser(
        subparsers,
        "export",
        "write a day's (or days') flags as CSV",
        "Write the flags of one day, or of every day from --from to --to inclusive, as CSV: one row\n"
        "per risk record, highest score first within a day; every attribute of contract 4 in its\n"
        "order, then any other attribute by name. Maps and lists (symbol_scores, evidence) are JSON;\n"
        "numbers are exact; text a spreadsheet would run as a formula gets a leading apostrophe.",
        "  chartguard export --day 2026-11-20 --out flags-2026-11-20.csv\n"
        "  chartguard export --from 2026-11-01 --to 2026-11-30 --out november.csv\n"
        "  chartguard export --day 2026-11-20 --out - | head\n",
    )
    export.add_argument("--day", type=parse_day, help="YYYY-MM-DD, UTC")
    export.add_argument("--from", dest="first", type=parse_day, metavar="DAY", help="first day of a range")
    export.add_argument("--to", dest="last", type=parse_day, metavar="DAY", help="last day of a range")
    export.add_argument("--out", required=True, metavar="FILE.csv", help="the CSV file ('-': stdout)")
    export.set_defaults(run=run_export)

    report = _parser(
        subparsers,
        "report",
        "write a day's flags as one self-contained HTML report",
        "Write one HTML file (no external assets: images are inlined, it works offline) with the\n"
        "day's flags, highest score first. Each flagged withdrawal shows, per symbol, the image the\n"
        "model saw (the evidence PNG) beside a chart for people (the symbol's 5-minute candles over\n"
        "the window, the account's buys and sells marked at their time and price), the scores,\n"
        "and its counterparties with the value moved (see `chartguard trace --help`).",
        "  chartguard report --day 2026-11-20 --out report.html\n"
        "  chartguard report --day 2026-11-20 --out top10.html --limit 10\n",
    )
    report.add_argument("--day", type=parse_day, default=_today(), help="YYYY-MM-DD, UTC (default: today)")
    report.add_argument("--out", required=True, metavar="FILE.html", help="the HTML file to write")
    report.add_argument(
        "--limit",
        type=_positive_int,
        default=DEFAULT_REPORT_LIMIT,
        help=f"at most N flags, the highest (default {DEFAULT_REPORT_LIMIT})",
    )
    report.set_defaults(run=run_report)

    trace = _parser(
        subparsers,
        "trace",
        "the counterparties of a flagged account and the value moved to or from each",
        "For a flagged withdrawal (the account's latest, or --withdrawal-id W, or every one of\n"
        "--day D), read the account's trades in the record's window and group them by\n"
        'counterparty_user_id ("(unknown)" when a trade names none). Per counterparty and symbol:\n'
        "trades, bought and sold quantity and notional (price * qty), and the value moved:\n\n"
        "  value moved = sum over the trades of the account's gain against the trade's 5-minute bar\n"
        "    BUY  at price p, quantity q: (mid - p) * q\n"
        "    SELL at price p, quantity q: (p - mid) * q\n"
        "    mid = (high + low) / 2 of the bar that contains the trade (klines table)\n\n"
        "Positive: the counterparty lost that much to the account (a likely victim); sorted by\n"
        "the counterparty's total, highest first. A trade whose bar is missing is counted but not\n"
        "valued (marked *). Values are in the symbols' quote currency.",
        "  chartguard trace U-1042\n"
        "  chartguard trace U-1042 --withdrawal-id W-88\n"
        "  chartguard trace U-1042 --day 2026-11-20 --json\n",
    )
    trace.add_argument("user_id", metavar="USER_ID")
    which = trace.add_mutually_exclusive_group()
    which.add_argument("--withdrawal-id", metavar="W", help="the record of this withdrawal")
    which.add_argument("--day", type=parse_day, help="every record of this day (YYYY-MM-DD)")
    trace.add_argument("--json", action="store_true", help="the traces as JSON")
    trace.set_defaults(run=run_trace)
