"""The analysts' commands: work the risk table (contract 4) and trace the money.

    chartguard flags  --day 2026-11-20               a day's flags, highest score first (by-day index)
    chartguard show   USER_ID [--download DIR]       an account's risk records and evidence
    chartguard export --day 2026-11-20 --out f.csv   every attribute of the flags, as CSV
    chartguard report --day 2026-11-20 --out r.html  one self-contained HTML report
    chartguard trace  USER_ID                        the counterparties and the value moved

The logic is plain functions that take boto3 clients and table names, so tests call them against
moto's server; the argparse `run_*` functions only read the configuration and print.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import textwrap
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping, Optional, Sequence
from urllib.parse import unquote

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from chartguard import report as html_report
from chartguard import trace as tracing
from chartguard.config import StackConfig, UserError, client
from scoring.contracts import RISK_BY_DAY_INDEX, RISK_TABLE
from scoring.errors import ScoringError
from scoring.market import Kline, Trade, parse_utc
from scoring.trades import KlinesTable, TradesTable

_deserializer = TypeDeserializer()

MAX_EXPORT_DAYS = 366
DEFAULT_REPORT_LIMIT = 25


# --- reading the risk table -------------------------------------------------------------------


def _aws_error(action: str, error: Exception) -> UserError:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "Unknown")
        message = error.response.get("Error", {}).get("Message", "")
        return UserError(f"{action}: {code}: {message}")
    return UserError(f"{action}: {error}")


def _query_pages(dynamodb: Any, action: str, limit: Optional[int], **query: Any) -> Iterator[dict[str, Any]]:
    """Items of a Query, deserialized, following LastEvaluatedKey; at most `limit` of them."""
    returned = 0
    while limit is None or returned < limit:
        if limit is not None:
            query["Limit"] = min(limit - returned, 1000)
        try:
            page = dynamodb.query(**query)
        except (ClientError, BotoCoreError) as error:
            raise _aws_error(action, error) from error
        for item in page.get("Items", []):
            yield {name: _deserializer.deserialize(value) for name, value in item.items()}
            returned += 1
        if "LastEvaluatedKey" not in page:
            return
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def flags_of_day(
    dynamodb: Any,
    table: str,
    day: str,
    *,
    limit: Optional[int] = None,
    min_score: Optional[float] = None,
) -> list[dict[str, Any]]:
    """The day's risk records, highest score first: a Query on the by-day index, every page."""
    names = {"#day": RISK_BY_DAY_INDEX.partition.name}
    values: dict[str, Any] = {":day": {"S": day}}
    condition = "#day = :day"
    if min_score is not None:
        names["#score"] = RISK_BY_DAY_INDEX.sort.name
        values[":min"] = {"N": str(Decimal(repr(float(min_score))))}
        condition += " AND #score >= :min"
    return list(
        _query_pages(
            dynamodb,
            f"query {table} index {RISK_BY_DAY_INDEX.name} for {day}",
            limit,
            TableName=table,
            IndexName=RISK_BY_DAY_INDEX.name,
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
        )
    )


def records_of_user(
    dynamodb: Any, table: str, user_id: str, *, withdrawal_id: Optional[str] = None
) -> list[dict[str, Any]]:
    """The account's risk records, newest first (event keys start with requested_at)."""
    query: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": RISK_TABLE.partition.name},
        "ExpressionAttributeValues": {":pk": {"S": user_id}},
        "ScanIndexForward": False,
    }
    if withdrawal_id is not None:
        query["FilterExpression"] = "#w = :w"
        query["ExpressionAttributeNames"]["#w"] = "withdrawal_id"
        query["ExpressionAttributeValues"][":w"] = {"S": withdrawal_id}
    return list(_query_pages(dynamodb, f"query {table} for {user_id}", None, **query))


def days_between(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    if end < start:
        raise UserError(f"--to {last} is before --from {first}")
    count = (end - start).days + 1
    if count > MAX_EXPORT_DAYS:
        raise UserError(f"{count} days asked; export at most {MAX_EXPORT_DAYS} at a time")
    return [(start + timedelta(days=n)).isoformat() for n in range(count)]


# --- plain values, text and CSV -----------------------------------------------------------------


def plain(value: Any) -> Any:
    """DynamoDB's deserialized values as JSON-ready Python (Decimal -> int or float, sets -> lists)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "E" not in str(value) else float(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def _printable(value: Any) -> str:
    """Terminal-safe text: control characters in stored data cannot drive the analyst's terminal."""
    text = "" if value is None else str(value)
    return "".join(c if c.isprintable() else "\ufffd" for c in text)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> str:
    """An aligned text table; columns whose index is in `right` are right-aligned."""
    cells = [[_printable(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]

    def line(row: Sequence[str]) -> str:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def symbol_scores_text(record: Mapping[str, Any]) -> str:
    scores = record.get("symbol_scores") or {}
    ordered = sorted(scores.items(), key=lambda item: (-float(item[1]), item[0]))
    return " ".join(f"{symbol}:{float(score):.3f}" for symbol, score in ordered)


def amount_text(record: Mapping[str, Any]) -> str:
    parts = [str(record[name]) for name in ("amount", "asset") if record.get(name) is not None]
    return " ".join(parts) or "-"


FLAG_COLUMNS = ("SCORE", "USER", "WITHDRAWAL", "REQUESTED_AT", "SYMBOLS", "TRADES", "AMOUNT", "STATUS")


def flags_table(records: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        (
            f"{float(r.get('score', 0)):.4f}",
            r.get("user_id"),
            r.get("withdrawal_id"),
            r.get("requested_at"),
            symbol_scores_text(r),
            r.get("trade_count", ""),
            amount_text(r),
            r.get("status", ""),
        )
        for r in records
    ]
    return format_table(FLAG_COLUMNS, rows, right=(0, 5))


def record_text(record: Mapping[str, Any]) -> str:
    """One risk record for `show`: the fields an analyst reads first, then everything else."""
    shown = [
        ("user", record.get("user_id")),
        ("withdrawal", record.get("withdrawal_id")),
        ("requested at", record.get("requested_at")),
        ("score", f"{plain(record.get('score'))} (threshold {plain(record.get('threshold'))})"),
        ("symbols", symbol_scores_text(record)),
        (
            "trades",
            f"{record.get('trade_count', '?')} in {record.get('window_start')} .. {record.get('window_end')}",
        ),
        ("amount", amount_text(record)),
        ("status", record.get("status")),
        ("scored at", f"{record.get('scored_at')} by {record.get('detector')} via {record.get('endpoint')}"),
        ("render", record.get("render_version")),
    ]
    evidence = list(record.get("evidence") or [])
    shown += [("evidence" if i == 0 else "", uri) for i, uri in enumerate(evidence)]
    known = {*CSV_COLUMNS}
    shown += [(name, json.dumps(plain(record[name]), sort_keys=True)) for name in sorted(set(record) - known)]
    width = max(len(name) for name, _ in shown) + 2
    lines = [f"{_printable(name):<{width}}{_printable(value)}" for name, value in shown]
    return "\n".join(lines)


# Contract 4's attributes in its order; any other attribute follows, sorted by name.
CSV_COLUMNS = (
    "user_id",
    "event_key",
    "withdrawal_id",
    "requested_at",
    "day",
    "score",
    "threshold",
    "symbol_scores",
    "trade_count",
    "window_start",
    "window_end",
    "scored_at",
    "endpoint",
    "render_version",
    "detector",
    "status",
    "evidence",
    "amount",
    "asset",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """One attribute as CSV text: numbers exact, maps and lists as JSON, formulas defused.

    A text value a spreadsheet would run as a formula (starting with = + - @) gets a leading
    apostrophe (OWASP's advice for CSV injection); numbers are written as they are.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return json.dumps(plain(value), sort_keys=True, separators=(",", ":"))
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_columns(records: Sequence[Mapping[str, Any]]) -> list[str]:
    extra = sorted({name for r in records for name in r} - set(CSV_COLUMNS))
    return [*CSV_COLUMNS, *extra]


def write_csv(records: Sequence[Mapping[str, Any]], out: IO[str]) -> int:
    """Every attribute of every record, one row each; returns the number of rows."""
    columns = csv_columns(records)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([csv_cell(record.get(name)) for name in columns])
    return len(records)


# --- evidence ------------------------------------------------------------------------------------


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key). The key is taken as it is (the recorder quotes its parts)."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    if not bucket or not key:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return bucket, key


def evidence_symbol(uri: str) -> str:
    """The symbol an evidence image is of: its file name, unquoted, without `.png`."""
    name = uri.rsplit("/", 1)[-1]
    return unquote(name[:-4] if name.endswith(".png") else name)


def evidence_by_symbol(record: Mapping[str, Any]) -> dict[str, str]:
    return {evidence_symbol(uri): uri for uri in record.get("evidence") or []}


def fetch_object(s3: Any, uri: str) -> bytes:
    bucket, key = parse_s3_uri(uri)
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (ClientError, BotoCoreError) as error:
        raise _aws_error(f"get {uri}", error) from error


def _safe_part(part: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_.%+=@" else "_" for c in part)
    return cleaned if cleaned.strip(".") else "_"


def download_path(directory: Path, uri: str) -> Path:
    """Where an evidence object goes under `directory`: its key's parts, none able to climb out."""
    _, key = parse_s3_uri(uri)
    parts = key.split("/")
    if parts[0] == "evidence" and len(parts) > 1:
        parts = parts[1:]
    return directory.joinpath(*(_safe_part(p) for p in parts))


def download_evidence(s3: Any, records: Sequence[Mapping[str, Any]], directory: Path) -> list[Path]:
    written = []
    for record in records:
        for uri in record.get("evidence") or []:
            path = download_path(directory, uri)
            body = fetch_object(s3, uri)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(body)
            except OSError as error:
                raise UserError(f"cannot write {path}: {error.strerror or error}") from error
            written.append(path)
    return written


# --- the window of a record: trades, klines, trace -------------------------------------------------


def record_window(record: Mapping[str, Any]) -> tuple[datetime, datetime]:
    try:
        return parse_utc(str(record["window_start"])), parse_utc(str(record["window_end"]))
    except (KeyError, ValueError) as error:
        raise UserError(f"risk record {record.get('event_key')!r} has no valid window: {error}") from error


def read_window(
    dynamodb: Any, *, trades_table: str, klines_table: str, user_id: str, start: datetime, end: datetime
) -> tuple[list[Trade], dict[str, list[Kline]]]:
    """The account's trades in [start, end) and the 5-minute bars of every symbol it traded."""
    try:
        trades = TradesTable(dynamodb, trades_table).trades_in_window(user_id, start, end)
        klines = KlinesTable(dynamodb, klines_table)
        bars = {
            symbol: klines.klines_in_window(symbol, start, end)
            for symbol in sorted({t.symbol for t in trades})
        }
    except ScoringError as error:
        raise UserError(str(error)) from error
    return trades, bars


def trace_record(
    dynamodb: Any, record: Mapping[str, Any], *, trades_table: str, klines_table: str
) -> tracing.Trace:
    start, end = record_window(record)
    user_id = str(record["user_id"])
    trades, bars = read_window(
        dynamodb, trades_table=trades_table, klines_table=klines_table, user_id=user_id, start=start, end=end
    )
    return tracing.trace_window(
        user_id=user_id,
        withdrawal_id=str(record.get("withdrawal_id", "")),
        window_start=start,
        window_end=end,
        trades=trades,
        bars_by_symbol=bars,
    )


def trace_text(trace: tracing.Trace) -> str:
    header = (
        f"counterparties of {_printable(trace.user_id)}, withdrawal {_printable(trace.withdrawal_id)}, "
        f"window {trace.window_start:%Y-%m-%dT%H:%M:%SZ} .. {trace.window_end:%Y-%m-%dT%H:%M:%SZ}: "
        f"{trace.trade_count} trades, value moved {tracing.money(trace.value_moved)}"
    )
    if not trace.flows:
        return header + "\nno trades in the window"
    table = format_table(tracing.TRACE_COLUMNS, tracing.trace_rows(trace), right=(1, 3, 4, 5, 6, 7))
    footer = textwrap.wrap(f"{tracing.VALUE_MOVED_RULE}.", width=100)
    if trace.unpriced:
        footer.append(
            f"* {trace.unpriced} trade(s) in bars missing from the klines table: counted, not valued."
        )
    return "\n".join([header, table, *footer])


# --- the HTML report -------------------------------------------------------------------------------


def report_entry(
    dynamodb: Any, s3: Any, record: Mapping[str, Any], *, trades_table: str, klines_table: str
) -> html_report.ReportEntry:
    """Everything the report shows of one record; what cannot be read becomes a note, not a failure."""
    scores = {str(k): float(v) for k, v in (record.get("symbol_scores") or {}).items()}
    evidence = evidence_by_symbol(record)
    symbols = sorted(set(scores) | set(evidence), key=lambda s: (-scores.get(s, -1.0), s))
    panels = [html_report.SymbolPanel(s, scores.get(s), evidence.get(s)) for s in symbols]
    for panel in panels:
        if panel.evidence_uri:
            try:
                panel.evidence_png = fetch_object(s3, panel.evidence_uri)
            except (UserError, ValueError) as error:
                panel.notes.append(f"evidence: {error}")
    entry = html_report.ReportEntry(record=record, panels=panels)
    try:
        start, end = record_window(record)
        trades, bars = read_window(
            dynamodb,
            trades_table=trades_table,
            klines_table=klines_table,
            user_id=str(record["user_id"]),
            start=start,
            end=end,
        )
    except UserError as error:
        entry.trace_problem = f"trades and klines could not be read: {error}"
        return entry
    entry.trace = tracing.trace_window(
        user_id=str(record["user_id"]),
        withdrawal_id=str(record.get("withdrawal_id", "")),
        window_start=start,
        window_end=end,
        trades=trades,
        bars_by_symbol=bars,
    )
    for panel in panels:
        symbol_trades = [t for t in trades if t.symbol == panel.symbol]
        if not symbol_trades:
            panel.notes.append("no trades of this symbol in the window now (the trades table changed?)")
        panel.human_png = html_report.render_human_chart(
            panel.symbol,
            bars.get(panel.symbol) or [],
            symbol_trades,
            window_start=start,
            window_end=end,
        )
    return entry


def write_report(
    dynamodb: Any,
    s3: Any,
    *,
    risk_table: str,
    trades_table: str,
    klines_table: str,
    day: str,
    out: Path,
    limit: Optional[int] = DEFAULT_REPORT_LIMIT,
    progress: Optional[Callable[[str], None]] = None,
) -> int:
    """The day's flags (highest first, at most `limit`) as one HTML file; returns how many it shows."""
    records = flags_of_day(dynamodb, risk_table, day, limit=limit)
    entries = []
    for n, record in enumerate(records, 1):
        if progress:
            progress(f"{n}/{len(records)} {record.get('user_id')}")
        entries.append(
            report_entry(dynamodb, s3, record, trades_table=trades_table, klines_table=klines_table)
        )
    shown = (
        f"the {len(records)} highest"
        if limit is not None and len(records) == limit
        else f"all {len(records)}"
    )
    document = html_report.build_report_html(
        title=f"chartguard: flagged withdrawals of {day}",
        subtitle=f"{shown} flags of {day} from risk table {risk_table}, highest score first",
        entries=entries,
        generated_at=datetime.now(timezone.utc),
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(document, encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot write {out}: {error.strerror or error}") from error
    return len(entries)


# --- the command line ------------------------------------------------------------------------------


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
        trace_record(dynamodb, r, trades_table=trades_table, klines_table=klines_table) for r in records
    ]
    if args.json:
        _print_json([tracing.trace_as_json(t) for t in traces])
    else:
        print("\n\n".join(trace_text(t) for t in traces))
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
