"""The day's HTML report: one self-contained page (inline CSS and SVG), every value HTML-escaped.

Read from the job's output folder: summary.json, findings.jsonl, monitor.jsonl, patterns.jsonl
and series.jsonl.
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import Any, Sequence

from anomalies.config import MONITOR_METRICS

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 7px;text-align:right}
td.k,th.k{text-align:left;font-family:monospace;max-width:520px;overflow-wrap:anywhere}
td.hot{background:#ffb3a7;font-weight:bold}.high{color:#b00020;font-weight:bold}.medium{color:#b26a00}.low{color:#666}
.bar{background:#4c78a8;height:10px;display:inline-block}.charts{display:flex;flex-wrap:wrap;gap:12px}
.chart{border:1px solid #ddd;padding:6px}.note{color:#555}
"""
CHART_W, CHART_H, PAD = 430, 150, 30


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_report(day_dir: Path, target: Path) -> Path:
    summary = json.loads((day_dir / "summary.json").read_text(encoding="utf-8"))
    found = _read_jsonl(day_dir / "findings.jsonl")
    monitor = _read_jsonl(day_dir / "monitor.jsonl")
    patterns = _read_jsonl(day_dir / "patterns.jsonl")
    series = _read_jsonl(day_dir / "series.jsonl")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(summary, found, monitor, patterns, series), encoding="utf-8")
    return target


def render_report(
    summary: dict[str, Any],
    found: Sequence[dict[str, Any]],
    monitor: Sequence[dict[str, Any]],
    patterns: Sequence[dict[str, Any]],
    series: Sequence[dict[str, Any]],
) -> str:
    e = escape
    sev, kind = summary["counts"]["severity"], summary["counts"]["kind"]
    rejected = summary["rows_rejected"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Anomalies {e(summary['day'])}</title><style>{CSS}</style></head><body>",
        f"<h1>Anomaly discovery: {e(summary['day'])}</h1>",
        f"<p>{summary['rows_read']:,} request lines read, {summary['rows_accepted']:,} analysed, "
        f"{sum(rejected.values()):,} rejected"
        + (" (" + ", ".join(f"{e(k)}: {v:,}" for k, v in rejected.items()) + ")" if rejected else "")
        + f". History days: {e(', '.join(summary['history']['days_found']) or 'none')}.</p>",
        f"<p><span class='high'>{sev['high']} high</span>, <span class='medium'>{sev['medium']} medium</span>, "
        f"<span class='low'>{sev['low']} low</span> findings: {kind['aggregate']} aggregate, "
        f"{kind['pattern']} pattern, {kind['timeseries']} time series.</p>",
        _findings_table(found),
        _monitor_table(monitor),
        _patterns_table(patterns, found),
        _charts(series, found, summary),
        "</body></html>",
    ]
    return "\n".join(parts)


def _findings_table(found: Sequence[dict[str, Any]], limit: int = 40) -> str:
    rows = [
        f"<tr><td class='k {escape(f['severity'])}'>{escape(f['severity'])}</td><td class='k'>{escape(f['kind'])}</td>"
        f"<td>{f['score']:.1f}</td><td class='k'>{escape(f['detail'])}</td>"
        f"<td class='k'>{escape(', '.join(f.get('sample_users') or [])[:160])}</td></tr>"
        for f in found[:limit]
    ]
    more = f"<p class='note'>{len(found) - limit} more in findings.jsonl.</p>" if len(found) > limit else ""
    return (
        "<h2>Findings, highest severity first</h2><table><tr><th class='k'>severity</th><th class='k'>kind</th>"
        "<th>score</th><th class='k'>detail</th><th class='k'>sample accounts</th></tr>"
        + "".join(rows)
        + "</table>"
        + more
    )


def _monitor_table(monitor: Sequence[dict[str, Any]], limit: int = 40) -> str:
    head = "".join(f"<th>{escape(m)}</th>" for m in MONITOR_METRICS)
    rows = []
    for r in monitor[:limit]:
        key = ", ".join(f"{k}={v}" for k, v in r["key"].items())
        cells = "".join(
            f"<td class='hot'>{r['metrics'][m]:,}</td>"
            if m in r["flagged"]
            else f"<td>{r['metrics'][m]:,}</td>"
            for m in MONITOR_METRICS
        )
        rows.append(
            f"<tr><td class='k {escape(r['severity'])}'>{escape(r['severity'])}</td>"
            f"<td class='k'>{escape(r['combination'])}</td><td class='k'>{escape(key)}</td>{cells}</tr>"
        )
    return (
        "<h2>Monitor: flagged groups (suspicious cells highlighted)</h2>"
        "<table><tr><th class='k'>severity</th><th class='k'>combination</th><th class='k'>key</th>"
        + head
        + "</tr>"
        + "".join(rows)
        + "</table>"
    )


def _patterns_table(patterns: Sequence[dict[str, Any]], found: Sequence[dict[str, Any]]) -> str:
    severity = {json.dumps(f["key"], sort_keys=True): f["severity"] for f in found if f["kind"] == "pattern"}
    rows = []
    for p in patterns:
        key = dict(item.split("=", 1) for item in p["items"])
        level = severity.get(json.dumps(key, sort_keys=True), "")
        rows.append(
            f"<tr><td class='k {escape(level)}'>{escape(level)}</td><td class='k'>{escape(p['printed'])}</td>"
            f"<td>{p['share']:.1%}</td><td class='k'><span class='bar' style='width:{p['share'] * 300:.0f}px'></span></td></tr>"
        )
    return (
        "<h2>Top frequent patterns (FP-Growth; items joined by ,, then the count)</h2>"
        "<table><tr><th class='k'>finding</th><th class='k'>pattern</th><th>share</th><th class='k'></th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _charts(
    series: Sequence[dict[str, Any]], found: Sequence[dict[str, Any]], summary: dict[str, Any]
) -> str:
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for point in series:
        by_metric.setdefault(point["metric"], []).append(point)
    status = summary.get("timeseries", {})
    note = escape(status.get("error") or status.get("note") or f"detector: {status.get('detector')}")
    charts = [_chart(metric, points) for metric, points in by_metric.items()]
    return (
        f"<h2>Metric series per 5 minutes (band: the detector's normal range; red: anomalies)</h2>"
        f"<p class='note'>{note}</p><div class='charts'>" + "".join(charts) + "</div>"
    )


def _chart(metric: str, points: Sequence[dict[str, Any]]) -> str:
    values = [p["value"] for p in points]
    uppers = [p["upper"] for p in points if p.get("upper") is not None]
    top = max([*values, *uppers, 1.0])
    n = max(len(points) - 1, 1)

    def x(i: int) -> float:
        return PAD + i * (CHART_W - PAD - 5) / n

    def y(v: float) -> float:
        return CHART_H - 18 - (v / top) * (CHART_H - 30)

    band = ""
    if all(p.get("lower") is not None and p.get("upper") is not None for p in points) and points:
        upper = " ".join(f"{x(i):.1f},{y(p['upper']):.1f}" for i, p in enumerate(points))
        lower = " ".join(
            f"{x(i):.1f},{y(max(p['lower'], 0)):.1f}" for i, p in reversed(list(enumerate(points)))
        )
        band = f"<polygon points='{upper} {lower}' fill='#c6dbef' stroke='none'/>"
    line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    marks = "".join(
        f"<circle cx='{x(i):.1f}' cy='{y(p['value']):.1f}' r='2.6' fill='#d62728'/>"
        for i, p in enumerate(points)
        if p.get("anomaly")
    )
    ticks = "".join(
        f"<text x='{x(i):.1f}' y='{CHART_H - 4}' font-size='9' text-anchor='middle'>{h:02d}h</text>"
        for h in range(0, 24, 6)
        for i in [h * len(points) // 24]
    )
    return (
        f"<div class='chart'><b>{escape(metric)}</b><br><svg width='{CHART_W}' height='{CHART_H}' "
        f"xmlns='http://www.w3.org/2000/svg'>{band}<polyline points='{line}' fill='none' stroke='#1f77b4' "
        f"stroke-width='1'/>{marks}{ticks}<text x='2' y='12' font-size='9'>{_fmt(top)}</text></svg></div>"
    )


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if math.isfinite(value) else "?"
