"""Risk records for people: JSON-ready values, aligned text tables, `show`'s text and CSV rows."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from typing import IO, Any, Mapping, Sequence


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


def printable(value: Any) -> str:
    """Terminal-safe text: control characters in stored data cannot drive the analyst's terminal."""
    text = "" if value is None else str(value)
    return "".join(c if c.isprintable() else "\ufffd" for c in text)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> str:
    """An aligned text table; columns whose index is in `right` are right-aligned."""
    cells = [[printable(c) for c in row] for row in rows]
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
    lines = [f"{printable(name):<{width}}{printable(value)}" for name, value in shown]
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
