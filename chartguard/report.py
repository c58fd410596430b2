"""The analysts' HTML report: one self-contained file, readable offline.

Each flagged account shows, per symbol, the image the model saw (the evidence PNG, contract 5)
beside a chart drawn for people (chartguard.human_chart: the symbol's 5-minute candles over the
window, the account's trades marked), its scores, and its counterparties (chartguard.trace).

Pure functions of data already read: nothing here talks to AWS (chartguard.daily_report reads the
tables and the bucket). Images are inlined as base64 data URIs; every piece of data is escaped.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Optional, Sequence

from chartguard.trace import VALUE_MOVED_RULE, Trace, money, quantity
from scoring.contracts import DEFAULT_RISK_THRESHOLD
from scoring.market import format_utc


def escape(value: Any) -> str:
    """Any value as HTML text (quotes too, so it is safe inside attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@dataclass
class SymbolPanel:
    """One symbol of one flagged withdrawal: the model's image beside the human chart."""

    symbol: str
    score: Optional[float]
    evidence_uri: Optional[str] = None
    evidence_png: Optional[bytes] = None
    human_png: Optional[bytes] = None
    notes: list[str] = field(default_factory=list)  # what could not be shown, and why


@dataclass
class ReportEntry:
    """One flagged withdrawal (a risk record, contract 4, as plain values)."""

    record: Mapping[str, Any]
    panels: list[SymbolPanel]
    trace: Optional[Trace] = None
    trace_problem: Optional[str] = None


_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #1f2933; background: #f4f5f7; }
header { background: #1f2937; color: #f9fafb; padding: 20px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
header p { margin: 0; color: #cbd2d9; }
main { padding: 20px 32px 40px; max-width: 1240px; }
h2 { font-size: 18px; margin: 0 0 8px; }
h3 { font-size: 15px; margin: 0 0 6px; }
table { border-collapse: collapse; background: #fff; width: 100%; }
th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid #e4e7eb; vertical-align: top; }
th { background: #eef1f4; font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
tr.total td { font-weight: 600; background: #f8fafc; }
td.nowrap { white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.card { background: #fff; border: 1px solid #d9dee4; border-radius: 8px; padding: 18px 20px; margin: 18px 0; }
.score { display: inline-block; min-width: 54px; text-align: center; border-radius: 4px; padding: 1px 6px;
         font-weight: 600; color: #fff; background: #b42318; font-variant-numeric: tabular-nums; }
.score.mid { background: #c4320a; }
.score.low { background: #6b7280; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 8px 0 14px; }
dl.meta dt { color: #616e7c; }
dl.meta dd { margin: 0; word-break: break-all; }
.symbol { border-top: 1px solid #e4e7eb; padding-top: 12px; margin-top: 12px; }
.pair { display: flex; gap: 18px; align-items: flex-start; flex-wrap: wrap; }
figure { margin: 0; }
figure.model { flex: 0 0 377px; }
figure.human { flex: 1 1 520px; max-width: 762px; }
figcaption { font-size: 12px; color: #616e7c; margin-top: 4px; overflow-wrap: anywhere; }
img.model { width: 377px; height: 227px; image-rendering: pixelated; border: 1px solid #cbd2d9; }
img.human { width: 100%; height: auto; border: 1px solid #cbd2d9; }
.missing { width: 375px; height: 225px; display: flex; align-items: center; justify-content: center;
           border: 1px dashed #b42318; color: #b42318; font-size: 12px; padding: 10px; text-align: center; }
.note { color: #b42318; font-size: 12px; }
.rule { color: #616e7c; font-size: 12px; margin: 4px 0 8px; }
a { color: #1d4ed8; text-decoration: none; }
footer { color: #616e7c; font-size: 12px; padding: 0 32px 24px; }
"""


def _score_badge(score: Any) -> str:
    try:
        value = float(score)
    except (TypeError, ValueError):
        return '<span class="score low">?</span>'
    grade = "" if value >= 0.97 else "mid" if value >= DEFAULT_RISK_THRESHOLD else "low"
    return f'<span class="score {grade}">{value:.4f}</span>'


def _symbol_scores_text(record: Mapping[str, Any]) -> str:
    scores = record.get("symbol_scores") or {}
    ordered = sorted(scores.items(), key=lambda item: (-float(item[1]), item[0]))
    return ", ".join(f"{symbol} {float(score):.3f}" for symbol, score in ordered)


def _amount_text(record: Mapping[str, Any]) -> str:
    amount, asset = record.get("amount"), record.get("asset")
    if amount is None and asset is None:
        return "-"
    return " ".join(str(part) for part in (amount, asset) if part is not None)


def _top_counterparty(entry: ReportEntry) -> str:
    if entry.trace is None or not entry.trace.flows:
        return "-"
    top = entry.trace.flows[0]
    return f"{top.counterparty} ({money(top.value_moved)})"


def _summary_table(entries: Sequence[ReportEntry]) -> str:
    rows = []
    for rank, entry in enumerate(entries, 1):
        record = entry.record
        rows.append(
            "<tr>"
            f'<td class="num">{rank}</td>'
            f"<td>{_score_badge(record.get('score'))}</td>"
            f'<td class="nowrap"><a href="#flag-{rank}">{escape(record.get("user_id"))}</a></td>'
            f'<td class="nowrap">{escape(record.get("withdrawal_id"))}</td>'
            f'<td class="nowrap">{escape(record.get("requested_at"))}</td>'
            f"<td>{escape(_symbol_scores_text(record))}</td>"
            f'<td class="num">{escape(record.get("trade_count"))}</td>'
            f'<td class="nowrap">{escape(_amount_text(record))}</td>'
            f"<td>{escape(_top_counterparty(entry))}</td>"
            "</tr>"
        )
    return (
        "<table><thead><tr>"
        '<th class="num">#</th><th>score</th><th>user</th><th>withdrawal</th><th>requested at</th>'
        '<th>symbols</th><th class="num">trades</th><th>amount</th><th>top counterparty (value moved)</th>'
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _image_or_placeholder(png: Optional[bytes], css_class: str, alt: str, missing: str) -> str:
    if png is None:
        return f'<div class="missing">{escape(missing)}</div>'
    return f'<img class="{css_class}" src="{png_data_uri(png)}" alt="{escape(alt)}">'


def _panel_html(record: Mapping[str, Any], panel: SymbolPanel) -> str:
    render_version = record.get("render_version", "")
    score = "" if panel.score is None else f" &middot; P(hacker) {_score_badge(panel.score)}"
    model = _image_or_placeholder(
        panel.evidence_png,
        "model",
        f"{panel.symbol}: the image the model scored",
        f"evidence image not available: {panel.evidence_uri or 'no evidence URI in the record'}",
    )
    human = _image_or_placeholder(
        panel.human_png,
        "human",
        f"{panel.symbol}: 5-minute candles and the account's trades",
        "no chart: the trades or klines could not be read",
    )
    notes = "".join(f'<p class="note">{escape(note)}</p>' for note in panel.notes)
    return (
        '<div class="symbol">'
        f"<h3>{escape(panel.symbol)}{score}</h3>"
        '<div class="pair">'
        f'<figure class="model">{model}<figcaption>the image the model saw ({escape(render_version)}, '
        "250 &times; 150 px shown at 1.5&times;): buys red, sells green; "
        f"{escape(panel.evidence_uri or '')}</figcaption></figure>"
        f'<figure class="human">{human}<figcaption>for people: the symbol&#39;s 5-minute candles over '
        "the window (top) and the busiest two hours of the account&#39;s trading (bottom, shaded above), "
        "its buys (red &#9650;) and sells (green &#9660;) at their time and price"
        "</figcaption></figure>"
        "</div>"
        f"{notes}"
        "</div>"
    )


def _trace_html(entry: ReportEntry) -> str:
    if entry.trace_problem:
        return f'<h3>Counterparties</h3><p class="note">{escape(entry.trace_problem)}</p>'
    trace = entry.trace
    if trace is None:
        return ""
    if not trace.flows:
        return "<h3>Counterparties</h3><p>No trades in the window.</p>"
    rows = []
    for flow in trace.flows:
        for leg in flow.sorted_legs():
            rows.append(
                "<tr>"
                f"<td>{escape(flow.counterparty)}</td>"
                f'<td class="num">{escape(money(leg.value_moved))}{"*" if leg.unpriced else ""}</td>'
                f"<td>{escape(leg.symbol)}</td>"
                f'<td class="num">{leg.trades}</td>'
                f'<td class="num">{escape(quantity(leg.bought_qty))}</td>'
                f'<td class="num">{escape(money(leg.bought_notional))}</td>'
                f'<td class="num">{escape(quantity(leg.sold_qty))}</td>'
                f'<td class="num">{escape(money(leg.sold_notional))}</td>'
                "</tr>"
            )
        if len(flow.legs) > 1:
            rows.append(
                '<tr class="total">'
                f"<td>{escape(flow.counterparty)}</td>"
                f'<td class="num">{escape(money(flow.value_moved))}{"*" if flow.unpriced else ""}</td>'
                f'<td>total</td><td class="num">{flow.trades}</td><td></td>'
                f'<td class="num">{escape(money(flow.bought_notional))}</td><td></td>'
                f'<td class="num">{escape(money(flow.sold_notional))}</td>'
                "</tr>"
            )
    unpriced = (
        f'<p class="note">* {trace.unpriced} trade(s) fell in bars missing from the klines table: '
        "counted, not valued.</p>"
        if trace.unpriced
        else ""
    )
    return (
        "<h3>Counterparties, likely victims first</h3>"
        f'<p class="rule">{escape(VALUE_MOVED_RULE)}.</p>'
        "<table><thead><tr><th>counterparty</th><th class=num>value moved</th><th>symbol</th>"
        "<th class=num>trades</th><th class=num>bought qty</th><th class=num>bought notional</th>"
        "<th class=num>sold qty</th><th class=num>sold notional</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        + unpriced
    )


def _entry_html(rank: int, entry: ReportEntry) -> str:
    record = entry.record
    meta = [
        ("withdrawal", record.get("withdrawal_id")),
        ("requested at", record.get("requested_at")),
        ("amount", _amount_text(record)),
        ("window", f"{record.get('window_start', '?')} to {record.get('window_end', '?')}"),
        ("trades in window", record.get("trade_count")),
        ("symbol scores", _symbol_scores_text(record)),
        ("threshold", record.get("threshold")),
        ("status", record.get("status")),
        ("scored at", record.get("scored_at")),
        ("endpoint", f"{record.get('endpoint', '?')} ({record.get('render_version', '?')})"),
    ]
    meta_html = "".join(f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>" for name, value in meta)
    panels = "".join(_panel_html(record, panel) for panel in entry.panels)
    if not entry.panels:
        panels = '<p class="note">The record names no evidence and no symbols.</p>'
    return (
        f'<section class="card" id="flag-{rank}">'
        f"<h2>{rank}. {escape(record.get('user_id'))} {_score_badge(record.get('score'))}</h2>"
        f'<dl class="meta">{meta_html}</dl>'
        f"{panels}"
        f"{_trace_html(entry)}"
        "</section>"
    )


def build_report_html(
    *, title: str, subtitle: str, entries: Sequence[ReportEntry], generated_at: datetime
) -> str:
    """The whole report as one HTML document: inline CSS, images as data URIs, no scripts."""
    if entries:
        body = f'<section class="card"><h2>Flags, highest score first</h2>{_summary_table(entries)}</section>'
        body += "".join(_entry_html(rank, entry) for rank, entry in enumerate(entries, 1))
    else:
        body = '<section class="card"><h2>No flags</h2><p>The risk table has no records for this selection.</p></section>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>"
        f"<main>{body}</main>"
        f"<footer>Generated {escape(format_utc(generated_at))} by chartguard report. "
        "Scores are P(hacker) from the chart classifier; records come from the risk table.</footer>"
        "</body></html>\n"
    )
