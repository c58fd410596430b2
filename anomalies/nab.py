"""The Numenta Anomaly Benchmark's scoring, re-implemented from its description.

Each labelled window rewards the earliest detection inside it with a scaled sigmoid of its
position (the window's first point earns the full true-positive weight); a window without a
detection costs the false-negative weight. Each detection outside every window costs the
false-positive weight, scaled by the sigmoid of its distance after the preceding window's end (a
detection just after a window costs almost nothing). The first 15% of each file (at most 750
points) is probationary and not scored. Scores are normalised over the corpus so that flagging
nothing scores 0 and flagging each window's first point alone scores 100, and the detection
threshold is the one that maximises the corpus' total, found by sweeping every distinct score.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROBATIONARY_FRACTION = 0.15
PROBATIONARY_CAP = 0.15 * 5000
OUTSIDE = -1  # window id of a point outside every window


@dataclass(frozen=True)
class Profile:
    name: str
    tp: float
    fp: float
    fn: float


PROFILES: tuple[Profile, ...] = (
    Profile("standard", tp=1.0, fp=0.11, fn=1.0),
    Profile("reward_low_FP_rate", tp=1.0, fp=0.22, fn=1.0),
    Profile("reward_low_FN_rate", tp=1.0, fp=0.11, fn=2.0),
)
STANDARD = PROFILES[0]


def scaled_sigmoid(position: float) -> float:
    """2·sigmoid(-5·position) - 1: about 0.987 at a window's start (-1), 0 at its end, -1 from 3 on."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


def probationary_length(count: int) -> int:
    return int(min(math.floor(PROBATIONARY_FRACTION * count), PROBATIONARY_CAP))


@dataclass(frozen=True)
class ScoredFile:
    """One file's points, each with the window it lies in and its unweighted reward or cost."""

    name: str
    window: np.ndarray  # window id per point (OUTSIDE, or 0..windows-1)
    weight: np.ndarray  # in a window: reward / MAX_TP (<= 1); outside: the cost's sigmoid factor (<= 0)
    scorable: np.ndarray  # bool: after the probationary period
    windows: int  # the file's labelled windows

    @property
    def scored_windows(self) -> int:
        """Windows with at least one scorable point: only those can be missed."""
        return len(np.unique(self.window[self.scorable & (self.window != OUTSIDE)]))


def _first_index(timestamps: np.ndarray, moment: np.datetime64, name: str) -> int:
    hits = np.flatnonzero(timestamps == moment)
    if len(hits) == 0:
        raise ValueError(f"{name}: window edge {moment} is not a timestamp of the file")
    return int(hits[0])


def prepare_file(
    name: str, timestamps: np.ndarray, windows: Sequence[tuple[np.datetime64, np.datetime64]]
) -> ScoredFile:
    """Each point's window and weight; a window runs from its start's first row to its end's first row."""
    count = len(timestamps)
    window_of = np.full(count, OUTSIDE, dtype=int)
    weight = np.empty(count)
    edges = [
        (_first_index(timestamps, start, name), _first_index(timestamps, end, name)) for start, end in windows
    ]
    for window_id, (left, right) in enumerate(edges):
        window_of[left : right + 1] = window_id
    previous_right: int | None = None
    previous_width = 0
    for index in range(count):
        window_id = window_of[index]
        if window_id != OUTSIDE:
            left, right = edges[window_id]
            width = right - left + 1
            weight[index] = scaled_sigmoid(-(right - index + 1) / width) / MAX_TP
            if index == right:
                previous_right, previous_width = right, width
        elif previous_right is None or previous_width <= 1:
            weight[index] = -1.0
        else:
            weight[index] = scaled_sigmoid((index - previous_right) / (previous_width - 1))
    scorable = np.arange(count) >= probationary_length(count)
    return ScoredFile(name=name, window=window_of, weight=weight, scorable=scorable, windows=len(windows))


def raw_score(scored: ScoredFile, detections: np.ndarray, profile: Profile) -> float:
    """A file's unnormalised score for a boolean detection per point."""
    active = detections.astype(bool) & scored.scorable
    total = profile.fp * float(scored.weight[active & (scored.window == OUTSIDE)].sum())
    for window_id in np.unique(scored.window[scored.scorable & (scored.window != OUTSIDE)]):
        hits = active & (scored.window == window_id)
        total += profile.tp * float(scored.weight[hits].max()) if hits.any() else -profile.fn
    return total


def null_score(scored: ScoredFile, profile: Profile) -> float:
    return -profile.fn * scored.scored_windows


def perfect_score(scored: ScoredFile, profile: Profile) -> float:
    return profile.tp * scored.windows


def normalised(raw: float, null: float, perfect: float) -> float:
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


@dataclass(frozen=True)
class CorpusResult:
    profile: Profile
    threshold: float
    score: float  # normalised over the corpus
    per_file_raw: dict[str, float]
    per_file: dict[str, float]  # each file normalised by its own null and perfect


def sweep(
    files: Sequence[ScoredFile], scores: Mapping[str, np.ndarray], profile: Profile
) -> tuple[float, float]:
    """The threshold (detect where score >= it) with the corpus' best raw total, and that total.

    Going down the distinct scores, a false positive adds its cost once, and a window's total moves
    from the miss cost to its best reward so far: the running sum of those steps is the total.
    """
    event_scores: list[np.ndarray] = []
    event_deltas: list[np.ndarray] = []
    base = 0.0
    for scored in files:
        score = np.asarray(scores[scored.name], dtype=float)
        outside = scored.scorable & (scored.window == OUTSIDE)
        event_scores.append(score[outside])
        event_deltas.append(profile.fp * scored.weight[outside])
        for window_id in np.unique(scored.window[scored.scorable & (scored.window != OUTSIDE)]):
            inside = np.flatnonzero(scored.scorable & (scored.window == window_id))
            base -= profile.fn
            order = inside[np.argsort(-score[inside], kind="stable")]
            best = np.maximum.accumulate(profile.tp * scored.weight[order])
            previous = np.concatenate(([-profile.fn], best[:-1]))
            event_scores.append(score[order])
            event_deltas.append(best - previous)
    all_scores = np.concatenate(event_scores)
    deltas = np.concatenate(event_deltas)
    order = np.argsort(-all_scores, kind="stable")
    all_scores, totals = all_scores[order], base + np.cumsum(deltas[order])
    # the total at a threshold counts every point at or above it: the last of each run of equal scores
    last_of_run = np.append(all_scores[1:] != all_scores[:-1], True)
    candidates, candidate_totals = all_scores[last_of_run], totals[last_of_run]
    winner = int(np.argmax(candidate_totals))
    if candidate_totals[winner] <= base:
        return math.inf, base
    return float(candidates[winner]), float(candidate_totals[winner])


def score_corpus(
    files: Sequence[ScoredFile], scores: Mapping[str, np.ndarray], profile: Profile
) -> CorpusResult:
    """The corpus' normalised score at its optimal threshold, with each file's score there."""
    threshold, total = sweep(files, scores, profile)
    null = sum(null_score(f, profile) for f in files)
    perfect = sum(perfect_score(f, profile) for f in files)
    per_file_raw = {f.name: raw_score(f, np.asarray(scores[f.name]) >= threshold, profile) for f in files}
    per_file = {
        f.name: normalised(per_file_raw[f.name], null_score(f, profile), perfect_score(f, profile))
        for f in files
    }
    return CorpusResult(
        profile=profile,
        threshold=threshold,
        score=normalised(total, null, perfect),
        per_file_raw=per_file_raw,
        per_file=per_file,
    )


@dataclass(frozen=True)
class NabFile:
    name: str  # e.g. "realTraffic/speed_6005.csv"
    timestamps: np.ndarray  # datetime64[s]
    values: np.ndarray
    windows: list[tuple[np.datetime64, np.datetime64]]


def load_corpus(root: Path) -> list[NabFile]:
    """Every file listed in `labels/combined_windows.json` under `root`, in name order."""
    labels = json.loads((root / "labels" / "combined_windows.json").read_text())
    files = []
    for name in sorted(labels):
        stamps, values = [], []
        with (root / name).open() as handle:
            next(handle)
            for line in handle:
                stamp, value = line.strip().split(",")
                stamps.append(stamp.replace(" ", "T"))
                values.append(float(value))
        windows = [(_moment(start), _moment(end)) for start, end in labels[name]]
        files.append(
            NabFile(
                name=name,
                timestamps=np.array(stamps, dtype="datetime64[s]"),
                values=np.array(values),
                windows=windows,
            )
        )
    return files


def _moment(text: str) -> np.datetime64:
    return np.datetime64(text.replace(" ", "T"), "s")
