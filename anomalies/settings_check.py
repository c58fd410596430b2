"""How optimistic the ensemble's NAB score is: its context settings chosen on half the files, judged on the rest.

The ensemble's context settings (bands, context length, recent points, alarm tail) were chosen on
all 24 NAB files. Here every setting of a small grid around them is scored on the whole set and
on each half (alternate files in name order); the best setting on one half is then judged on the
other, where it was not chosen. Each half's score uses the threshold optimised over that half.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from anomalies import context, ensemble, nab, novelty, seasonal, timeseries

BANDS = (6, 8, 10, 12)
CONTEXT_POINTS = (3, 5, 7)
RECENT_POINTS = (10, 20, 40)
ALARM_TAILS = (1e-3, 1e-4, 1e-5)
GRID_TEXT = (
    f"bands {BANDS}, context points {CONTEXT_POINTS}, recent points {RECENT_POINTS}, alarm tail {ALARM_TAILS}"
)


@dataclass(frozen=True)
class Row:
    settings: context.ContextSettings
    all: float  # the standard score on all files
    even: float
    odd: float

    def half(self, name: str) -> float:
        return self.even if name == "even" else self.odd


def settings_grid() -> list[context.ContextSettings]:
    return [
        context.ContextSettings(bands=bands, context_points=points, recent_points=recent, alarm_tail=tail)
        for bands, points, recent, tail in itertools.product(
            BANDS, CONTEXT_POINTS, RECENT_POINTS, ALARM_TAILS
        )
    ]


def check(corpus: Sequence[nab.NabFile]) -> dict:
    """Per setting of the grid: the standard score on all files and on each half; then the cross-choice."""
    files = [nab.prepare_file(f.name, f.timestamps, f.windows) for f in corpus]
    halves = {"even": files[0::2], "odd": files[1::2]}
    members = []
    for data in corpus:
        series = timeseries.prepare(
            data.timestamps, data.values, learning_points=nab.probationary_length(len(data.values))
        )
        rhythm = seasonal.detect_seasonal(series) if ensemble.has_rhythm(series) else None
        members.append((data.name, series, novelty.detect_novelty(series), rhythm))
    rows = []
    for settings in settings_grid():
        scores = {
            name: ensemble.combine(extremes, context.detect_context(series, settings), rhythm).score
            for name, series, extremes, rhythm in members
        }
        rows.append(
            Row(
                settings=settings,
                all=nab.score_corpus(files, scores, nab.STANDARD).score,
                even=nab.score_corpus(halves["even"], scores, nab.STANDARD).score,
                odd=nab.score_corpus(halves["odd"], scores, nab.STANDARD).score,
            )
        )
    default = next(row for row in rows if row.settings == context.DEFAULT_SETTINGS)
    chosen = {}
    for half, other in (("even", "odd"), ("odd", "even")):
        best = max(rows, key=lambda row: row.half(half))
        chosen[half] = {
            "settings": asdict(best.settings),
            "on_its_half": best.half(half),
            "on_the_other_half": best.half(other),
            "other_half_best": max(row.half(other) for row in rows),
        }
    overall = np.array([row.all for row in rows])
    return {
        "rows": [asdict(row) for row in rows],
        "default": asdict(default),
        "chosen_on": chosen,
        "all_files": {
            "settings": len(rows),
            "min": float(overall.min()),
            "median": float(np.median(overall)),
            "max": float(overall.max()),
            "at_least_78": int((overall >= 78.0).sum()),
        },
    }


def _settings_text(settings: dict) -> str:
    return ", ".join(
        f"{name.replace('_', ' ')} {value:g}" for name, value in settings.items() if name != "hold_steps"
    )


def markdown(result: dict) -> list[str]:
    grid = result["all_files"]
    default = result["default"]
    lines = [
        "## How optimistic the ensemble's score is: its context settings chosen on half the files",
        "",
        f"The {grid['settings']} settings of the grid ({GRID_TEXT})",
        f"on all files: lowest {grid['min']:.1f}, median {grid['median']:.1f}, highest {grid['max']:.1f}; "
        f"{grid['at_least_78']} of them reach 78.",
        f"The default ({_settings_text(default['settings'])}): {default['all']:.1f} on all files, "
        f"{default['even']:.1f} on the even ones, {default['odd']:.1f} on the odd ones.",
        "",
        "| chosen on | settings | score on that half | score on the other half | the other half's best |",
        "|---|---|---|---|---|",
    ]
    for half, row in result["chosen_on"].items():
        lines.append(
            f"| {half} files | {_settings_text(row['settings'])} | {row['on_its_half']:.1f} | "
            f"{row['on_the_other_half']:.1f} | {row['other_half_best']:.1f} |"
        )
    return lines
