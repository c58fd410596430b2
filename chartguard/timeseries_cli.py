"""`chartguard anomalies timeseries`: score one metric series from a CSV file, point by point.

Reads a CSV with a timestamp and a value column, runs a detector of `anomalies.timeseries` over
it as a live monitor would, and writes `timestamp,value,anomaly_score,is_anomaly`, one row per
input row in input order. Whatever it cannot use (a file it cannot read, a missing column, a
value that is not a number, a series too short to learn from) ends it with one line on stderr
and exit code 2, writing nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np

from anomalies import timeseries

PROG = "chartguard anomalies timeseries"
OUTPUT_COLUMNS = ("timestamp", "value", "anomaly_score", "is_anomaly")


class InputError(Exception):
    """The input cannot be scored; the message says why in one line."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `timeseries` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "timeseries",
        help="score one metric series (CSV) for anomalies, point by point",
        description="Score every row of a metric series for anomalies. Each point is judged only on "
        "the points before it; the first stretch (15% of the series, at most 750 points, unless "
        "--learning-points says otherwise) only teaches the detector and is never flagged.",
    )
    parser.add_argument("--input", required=True, type=Path, help="CSV file with a header row")
    parser.add_argument(
        "--out", required=True, type=Path, help="CSV to write: timestamp,value,anomaly_score,is_anomaly"
    )
    parser.add_argument(
        "--timestamp-column", default="timestamp", help="column of ISO-8601 times (default: timestamp)"
    )
    parser.add_argument("--value-column", default="value", help="column of numbers (default: value)")
    parser.add_argument(
        "--detector",
        default=timeseries.DEFAULT_DETECTOR,
        choices=timeseries.DETECTORS,
        help=f"which detector (default: {timeseries.DEFAULT_DETECTOR}; see docs/timeseries.md)",
    )
    parser.add_argument(
        "--learning-points", type=int, help="points at the start that only teach the detector"
    )
    parser.set_defaults(run=run)
    return parser


def read_series(
    path: Path, timestamp_column: str, value_column: str
) -> tuple[list[str], list[str], list[float]]:
    """The timestamp and value cells as written, and the values as numbers."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            for column in (timestamp_column, value_column):
                if column not in columns:
                    found = ", ".join(columns) if columns else "none (the file is empty)"
                    raise InputError(f"{path}: no column {column!r}; the columns are {found}")
            stamps, cells, numbers = [], [], []
            for row in reader:
                stamp, cell = row[timestamp_column], row[value_column]
                try:
                    number = float(cell)
                except (TypeError, ValueError):
                    raise InputError(
                        f"{path}, line {reader.line_num}: {value_column} {cell!r} is not a number"
                    ) from None
                stamps.append(stamp)
                cells.append(cell)
                numbers.append(number)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"cannot read {path}: {error}") from None
    return stamps, cells, numbers


def write_scores(path: Path, stamps: list[str], cells: list[str], detection: timeseries.Detection) -> None:
    """Write beside the target, then rename: a failed run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(OUTPUT_COLUMNS)
            for stamp, cell, score, flag in zip(stamps, cells, detection.score, detection.is_anomaly):
                writer.writerow((stamp, cell, f"{score:.6f}", int(flag)))
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    try:
        stamps, cells, numbers = read_series(args.input, args.timestamp_column, args.value_column)
        detection = timeseries.detect(
            np.array(stamps), np.array(numbers), detector=args.detector, learning_points=args.learning_points
        )
        write_scores(args.out, stamps, cells, detection)
    except timeseries.SeriesError as error:
        print(f"{PROG}: {args.input}: {error}", file=sys.stderr)
        return 2
    except InputError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{PROG}: cannot write {args.out}: {error}", file=sys.stderr)
        return 2
    flagged = int(detection.is_anomaly.sum())
    print(f"{len(stamps)} points scored with {args.detector}, {flagged} flagged: {args.out}", file=sys.stderr)
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    """Run the subcommand alone (tests, `python -m chartguard.timeseries_cli`)."""
    parser = argparse.ArgumentParser(prog="chartguard anomalies")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["timeseries", *(sys.argv[1:] if argv is None else argv)])
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
