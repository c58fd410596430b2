"""Risk records for people: JSON-ready values, aligned text tables, `show`'s text and CSV rows."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from typing import IO, Any, Iterable, Mapping, Sequence

from scoring.round_trip import FEATURE_NAMES


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


# The round-trip features (scoring.round_trip) in words, for the HTML report; docs/analyst.md
# says how to read them. A position is (price - low) / (high - low) inside the trade's own bar.
FEATURE_LABELS = {
    "n_trades": "trades",
    "buy_fraction": "share of them buys",
    "n_bars": "bars traded in",
    "trades_per_bar": "trades per bar traded in",
    "round_trip_bars": "round trips (bars with a buy and a sell)",
    "round_trip_bar_fraction": "share of traded bars with a round trip",
    "mean_buy_position": "buys' mean position in their bar (0 low, 1 high)",
    "mean_sell_position": "sells' mean position in their bar",
    "mean_round_trip_spread": "round trips' mean spread (sell minus buy position)",
    "min_round_trip_spread": "smallest round-trip spread",
    "wide_round_trips": "wide round trips (spread over 0.6)",
    "top10_trade_fraction": "share of trades in the window's 10 most volatile bars",
    "mean_amplitude_rank": "traded bars' mean volatility rank (0 the most volatile)",
    "window_max_amplitude": "widest bar of the window, (high - low) / low",
    "value_round_trip_spread": "round trips' spread, each fill weighted by its value",
    "wide_round_trip_value_fraction": "share of the traded value in wide round trips (by value)",
    "value_wide_round_trips": "round trips wide by their value-weighted spread",
}


def feature_order(names: Iterable[str]) -> list[str]:
    """The function's order of the features (a DynamoDB map keeps none); unknown names after, sorted."""
    given = set(names)
    return [n for n in FEATURE_NAMES if n in given] + sorted(given - set(FEATURE_NAMES))


def feature_text(value: Any) -> str:
    """A round-trip feature for people: counts as whole numbers, fractions to three places."""
    number = float(value)
    return str(int(number)) if number == int(number) and abs(number) < 1e15 else f"{number:.3f}"


def round_trip_rows(record: Mapping[str, Any]) -> list[list[str]]:
    """The record's round-trip features as a table: a header row (feature, then each symbol in
    score order), then one row per feature, in the function's order."""
    features = record.get("round_trip") or {}
    if not isinstance(features, Mapping) or not features:
        return []
    scores = record.get("symbol_scores") or {}
    symbols = sorted(features, key=lambda s: (-float(scores.get(s, -1)), s))
    names = feature_order({name for symbol in symbols for name in features[symbol]})
    rows = [["feature", *symbols]]
    for name in names:
        cells = [features[s].get(name) for s in symbols]
        rows.append([name, *("-" if c is None else feature_text(c) for c in cells)])
    return rows


def _round_trip_lines(record: Mapping[str, Any]) -> list[str]:
    rows = round_trip_rows(record)
    if not rows:
        return []
    return format_table(rows[0], rows[1:], right=range(1, len(rows[0]))).splitlines()


def record_text(record: Mapping[str, Any]) -> str:
    """One risk record for `show`: the fields an analyst reads first, then everything else."""
    reasons = [str(r) for r in record.get("reasons") or []]
    shown = [
        ("user", record.get("user_id")),
        ("withdrawal", record.get("withdrawal_id")),
        ("requested at", record.get("requested_at")),
        ("score", f"{plain(record.get('score'))} (threshold {plain(record.get('threshold'))})"),
        *[("reasons" if i == 0 else "", reason) for i, reason in enumerate(reasons)],
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
    shown += [("round trip" if i == 0 else "", line) for i, line in enumerate(_round_trip_lines(record))]
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
    "reasons",
    "round_trip",
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
