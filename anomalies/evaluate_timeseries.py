"""Judge the time-series detectors: NAB's 24 files scored NAB's way, and planted anomalies.

`python -m anomalies.evaluate_timeseries --out docs/timeseries` replays every file as a live
monitor would (NAB's probationary period is the learning period), scores each detector with the
three NAB profiles at the threshold optimised over the whole set, checks how much that set's
choices flatter the scores (each half of the files at the other half's threshold; the ensemble's
context settings chosen on one half, judged on the other), and writes `report.md` and
`results.json` with every file's score beside NAB's published detectors.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from anomalies import nab, planted, settings_check, timeseries

# NAB's published detectors on these 24 files, standard profile, threshold optimised over them.
PUBLISHED = {"CAD OSE": 77.8, "Numenta HTM": 76.5, "ARTime": 75.6, "windowed Gaussian": 42.6}
PLANTED_LEARNING_DAYS = 7
PLANTED_DAYS = 14
PLANTED_SEEDS = (11, 12, 13)
# An alarm this many points after a planted anomaly's end still counts as finding it.
PLANTED_SLACK = 12


@dataclass(frozen=True)
class FileRun:
    name: str
    score: np.ndarray
    seconds: float


def _run_file(job: tuple[nab.NabFile, str]) -> FileRun:
    data, detector = job
    started = time.perf_counter()
    detection = timeseries.detect(
        data.timestamps,
        data.values,
        detector=detector,
        learning_points=nab.probationary_length(len(data.values)),
    )
    return FileRun(name=data.name, score=detection.score, seconds=time.perf_counter() - started)


def held_out(
    files: list[nab.ScoredFile], scores: dict[str, np.ndarray], profile: nab.Profile
) -> dict[str, dict[str, float]]:
    """Each half of the files (alternate ones in name order) scored at its own best threshold and at the other's.

    How much the corpus-optimised threshold flatters a detector: a half judged at the threshold
    chosen on the other half sees a threshold that was not fitted to it.
    """
    halves = {"even": files[0::2], "odd": files[1::2]}
    result = {}
    for name, judged in halves.items():
        chooser = halves["odd" if name == "even" else "even"]
        threshold, _ = nab.sweep(chooser, scores, profile)
        total = sum(nab.raw_score(f, np.asarray(scores[f.name]) >= threshold, profile) for f in judged)
        null = sum(nab.null_score(f, profile) for f in judged)
        perfect = sum(nab.perfect_score(f, profile) for f in judged)
        result[name] = {
            "own_threshold": nab.score_corpus(judged, scores, profile).score,
            "other_threshold": nab.normalised(total, null, perfect),
        }
    return result


def evaluate_nab(root: Path, detectors: list[str], workers: int) -> dict[str, dict]:
    corpus = nab.load_corpus(root)
    files = [nab.prepare_file(f.name, f.timestamps, f.windows) for f in corpus]
    points = sum(len(f.values) for f in corpus)
    results: dict[str, dict] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for detector in detectors:
            runs = list(pool.map(_run_file, [(f, detector) for f in corpus]))
            scores = {run.name: run.score for run in runs}
            cpu_seconds = sum(run.seconds for run in runs)
            profiles = {}
            for profile in nab.PROFILES:
                result = nab.score_corpus(files, scores, profile)
                profiles[profile.name] = {
                    "score": result.score,
                    "threshold": result.threshold,
                    "per_file": result.per_file,
                }
            results[detector] = {
                "profiles": profiles,
                "held_out": held_out(files, scores, nab.STANDARD),
                "seconds": cpu_seconds,
                "seconds_per_10k_points": 10_000 * cpu_seconds / points,
            }
            standard = profiles["standard"]["score"]
            print(
                f"{detector}: NAB standard {standard:.1f} ({cpu_seconds:.0f} s of detection)", file=sys.stderr
            )
    return results


def evaluate_planted(detectors: list[str]) -> dict[str, dict]:
    """Per detector and kind: how many of the seeded series had the anomaly found, and alarms elsewhere."""
    learning = PLANTED_LEARNING_DAYS * 288
    results: dict[str, dict] = {}
    for detector in detectors:
        rows: dict[str, dict] = {}
        for kind in ("clean", *planted.KINDS):
            found = 0
            false_alarms = 0
            for seed in PLANTED_SEEDS:
                series = (
                    planted.clean_series(PLANTED_DAYS, seed=seed)
                    if kind == "clean"
                    else planted.planted_series(kind, PLANTED_DAYS, seed=seed)
                )
                detection = timeseries.detect(
                    series.timestamps, series.values, detector=detector, learning_points=learning
                )
                alarms = detection.is_anomaly.copy()
                for _, first, last in series.anomalies:
                    if alarms[first : last + 1 + PLANTED_SLACK].any():
                        found += 1
                    alarms[first : last + 1 + PLANTED_SLACK] = False
                false_alarms += int(alarms.sum())
            rows[kind] = {"series": len(PLANTED_SEEDS), "found": found, "alarms_elsewhere": false_alarms}
        results[detector] = rows
    return results


def write_report(
    out: Path, nab_results: dict[str, dict], planted_results: dict[str, dict], check: Optional[dict]
) -> Path:
    """The report and results.json; `check` is settings_check's result (None when the ensemble was not run)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps({"nab": nab_results, "planted": planted_results, "settings_check": check}, indent=2) + "\n"
    )
    detectors = list(nab_results)
    lines = [
        "# Time-series detectors on NAB's 24 files and on planted anomalies",
        "",
        "Written by `make evaluate-timeseries` (`python -m anomalies.evaluate_timeseries`); see",
        "`docs/timeseries.md` for what the detectors do and how the scores are computed.",
        "",
        "## NAB score over the 24 files (threshold optimised over them, per profile)",
        "",
        "| detector | standard | reward low FP | reward low FN | threshold (standard) | seconds per 10,000 points |",
        "|---|---|---|---|---|---|",
    ]
    for name in detectors:
        profiles = nab_results[name]["profiles"]
        lines.append(
            f"| {name} | {profiles['standard']['score']:.1f} | {profiles['reward_low_FP_rate']['score']:.1f} | "
            f"{profiles['reward_low_FN_rate']['score']:.1f} | {profiles['standard']['threshold']:.4g} | "
            f"{nab_results[name]['seconds_per_10k_points']:.2f} |"
        )
    for name, score in PUBLISHED.items():
        lines.append(f"| {name} (published) | {score:.1f} | | | | |")
    lines += [
        "",
        "## Each half of the files at its own threshold and at the other half's (standard profile)",
        "",
        "The even and odd files in name order; a threshold chosen on the other half was not fitted to the",
        "half it judges. (The detectors' settings were chosen on all 24 files: see `docs/timeseries.md`.)",
        "",
        "| detector | even files, own | even files, odd's threshold | odd files, own | odd files, even's threshold |",
        "|---|---|---|---|---|",
    ]
    for name in detectors:
        halves = nab_results[name]["held_out"]
        lines.append(
            f"| {name} | {halves['even']['own_threshold']:.1f} | {halves['even']['other_threshold']:.1f} | "
            f"{halves['odd']['own_threshold']:.1f} | {halves['odd']['other_threshold']:.1f} |"
        )
    if check is not None:
        lines += ["", *settings_check.markdown(check)]
    lines += ["", "## Per file (each file normalised by its own null and perfect scores)", ""]
    for profile in nab.PROFILES:
        lines += [
            f"### {profile.name}",
            "",
            "| file | " + " | ".join(detectors) + " |",
            "|---|" + "---|" * len(detectors),
        ]
        files = nab_results[detectors[0]]["profiles"][profile.name]["per_file"]
        for file_name in files:
            cells = [
                f"{nab_results[d]['profiles'][profile.name]['per_file'][file_name]:.1f}" for d in detectors
            ]
            lines.append(f"| {file_name} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        f"## Planted anomalies ({len(PLANTED_SEEDS)} series per kind, {PLANTED_DAYS} days of 5-minute counts, "
        f"the first {PLANTED_LEARNING_DAYS} days learning)",
        "",
        "Found: series whose anomaly drew an alarm inside it (or within an hour after it); alarms elsewhere: "
        "all other alarms after the learning period.",
        "",
        "| kind | " + " | ".join(f"{d} found | {d} alarms elsewhere" for d in planted_results) + " |",
        "|---|" + "---|---|" * len(planted_results),
    ]
    for kind in ("clean", *planted.KINDS):
        cells = []
        for detector in planted_results:
            row = planted_results[detector][kind]
            cells.append("-" if kind == "clean" else f"{row['found']}/{row['series']}")
            cells.append(str(row["alarms_elsewhere"]))
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anomalies.evaluate_timeseries", description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=Path("data/nab"), help="the NAB subset (default: data/nab)"
    )
    parser.add_argument("--out", type=Path, default=Path("docs/timeseries"), help="report folder")
    parser.add_argument(
        "--detector", action="append", choices=timeseries.DETECTORS, help="repeat; default: all"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes scoring files in parallel")
    args = parser.parse_args(argv)
    detectors = args.detector or list(timeseries.DETECTORS)
    nab_results = evaluate_nab(args.data, detectors, args.workers)
    planted_results = evaluate_planted(detectors)
    check = settings_check.check(nab.load_corpus(args.data)) if "ensemble" in detectors else None
    print(write_report(args.out, nab_results, planted_results, check))
    return 0


if __name__ == "__main__":
    sys.exit(main())
