"""Findings (contract 9): one record per thing worth an analyst's look, with a deterministic id.

Built from the three detectors' judged results; ordered highest severity first, then score.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Optional

import numpy as np

from anomalies.monitor import FlaggedKey
from anomalies.patterns import JudgedPattern

SEVERITIES = ("high", "medium", "low")
KINDS = ("aggregate", "pattern", "timeseries")
# A stretch of a series is high severity when its total lies beyond the detector's band by at
# least this many counts and by twice the band's own width; medium past a quarter of that.
TIMESERIES_HIGH_EXCESS = 10.0
TIMESERIES_MEDIUM_EXCESS = 3.0


@dataclass(frozen=True)
class Finding:
    finding_id: str
    day: str
    kind: str
    key: dict[str, str]
    metric: str
    value: float
    expected: Optional[float]
    score: float
    severity: str
    start: str
    end: str
    detail: str
    sample_users: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def finding_id(day: str, kind: str, key: Mapping[str, str], metric: str) -> str:
    text = json.dumps([day, kind, dict(sorted(key.items())), metric], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def day_bounds(day: date) -> tuple[str, str]:
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return _iso(start), _iso(start + timedelta(days=1))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def aggregate_findings(day: date, keys: Sequence[FlaggedKey]) -> list[Finding]:
    start, end = day_bounds(day)
    out = []
    for k in keys:
        who = ", ".join(f"{d}={v}" for d, v in k.key.items())
        if k.expected is None:
            versus = "no history day to compare with"
        elif k.new:
            versus = "a key never seen on the history days"
        else:
            versus = f"at most {_number(k.expected)} on a history day"
        others = [m for m in k.flagged if m != k.metric]
        also = f"; also unusual: {', '.join(f'{m} {k.metrics[m]:,}' for m in others)}" if others else ""
        detail = f"{who}: {k.metric} {_number(k.value)} ({versus}; robust z {k.z:.1f}){also}."
        out.append(
            Finding(
                finding_id(f"{day}", "aggregate", k.key, k.metric),
                f"{day}",
                "aggregate",
                dict(k.key),
                k.metric,
                k.value,
                k.expected,
                k.score,
                k.severity,
                start,
                end,
                detail,
            )
        )
    return out


def pattern_findings(day: date, judged: Sequence[JudgedPattern]) -> list[Finding]:
    start, end = day_bounds(day)
    out = []
    for j in judged:
        p = j.pattern
        if j.history_share is None:
            versus = "no history day to compare with"
        elif j.history_share == 0:
            versus = "never seen on the history days"
        else:
            versus = f"at most {j.history_share:.1%} on a history day"
        detail = f"{p.printed()}: {p.share:.1%} of the day's requests ({versus})."
        out.append(
            Finding(
                finding_id(f"{day}", "pattern", p.key, "share"),
                f"{day}",
                "pattern",
                p.key,
                "share",
                round(p.share, 6),
                j.history_share,
                j.score,
                j.severity,
                start,
                end,
                detail,
            )
        )
    return out


def timeseries_findings(
    day: date,
    metric: str,
    timestamps: np.ndarray,
    values: np.ndarray,
    expected: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    score: np.ndarray,
    is_anomaly: np.ndarray,
    step_seconds: int,
) -> list[Finding]:
    """One finding per run of consecutive anomalous steps: totals seen and expected over the run.

    Severity weighs how far the run's total lies outside the detector's band (summed over the
    run), so a sparse series going from 0 to 3 withdrawals is not ranked with 300 sign-ups; a
    run that stays within the band's noise stays marked on the series but is no finding.
    """
    out = []
    flags = np.asarray(is_anomaly, dtype=bool)
    i = 0
    while i < len(flags):
        if not flags[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(flags) and flags[j + 1]:
            j += 1
        run = slice(i, j + 1)
        seen, base = float(values[run].sum()), float(np.nan_to_num(expected[run]).sum())
        top = float(np.nan_to_num(upper[run], nan=0.0).sum()) if not np.isnan(upper[run]).all() else base
        bottom = float(np.nan_to_num(lower[run], nan=0.0).sum()) if not np.isnan(lower[run]).all() else base
        above = seen >= base
        beyond = seen - max(top, base) if above else min(bottom, base) - seen
        width = max(top - base, 0.0) if above else max(base - bottom, 0.0)
        if above and beyond >= max(TIMESERIES_HIGH_EXCESS, 2 * width):
            severity = "high"
        elif beyond >= max(TIMESERIES_MEDIUM_EXCESS, width / 2):
            severity = "medium"
        else:
            i = j + 1  # inside the band's noise: marked on the series, not worth a finding
            continue
        start = timestamps[i].astype("datetime64[s]").item().replace(tzinfo=timezone.utc)
        end = timestamps[j].astype("datetime64[s]").item().replace(tzinfo=timezone.utc) + timedelta(
            seconds=step_seconds
        )
        key = {"metric": metric}
        direction = "above" if above else "below"
        detail = (
            f"{metric} {_number(seen)} from {start:%H:%M} to {end:%H:%M} UTC, {direction} the "
            f"{_number(round(base))} expected."
        )
        out.append(
            Finding(
                finding_id(
                    f"{day}",
                    "timeseries",
                    {**key, "start": _iso(start)},
                    f"{metric}_per_{step_seconds // 60}min",
                ),
                f"{day}",
                "timeseries",
                key,
                f"{metric}_per_{step_seconds // 60}min",
                seen,
                round(base, 3),
                round(float(np.nanmax(score[i : j + 1])), 3),
                severity,
                _iso(start),
                _iso(end),
                detail,
            )
        )
        i = j + 1
    return out


def ranked(findings: Sequence[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), -f.score, f.kind, f.finding_id))


def counts_by(findings: Sequence[Finding]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {"kind": {k: 0 for k in KINDS}, "severity": {s: 0 for s in SEVERITIES}}
    for f in findings:
        out["kind"][f.kind] += 1
        out["severity"][f.severity] += 1
    return out
