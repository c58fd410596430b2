"""`chartguard report`'s work: a day's flags, each with its evidence, human charts and trace, as one HTML file."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from chartguard import report as html_report
from chartguard import trace as tracing
from chartguard.evidence import evidence_by_symbol, fetch_object
from chartguard.human_chart import render_human_chart
from chartguard.stack_access import UserError
from chartguard.table_reads import flags_of_day, read_window, record_window

DEFAULT_REPORT_LIMIT = 25


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
        panel.human_png = render_human_chart(
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
