"""`chartguard anomalies timeseries`: scores written row for row, and one clear line for bad input."""

from __future__ import annotations

import argparse
import csv

import numpy as np
import pytest

from anomalies import planted
from chartguard import timeseries_cli


def write_series(path, timestamps, values, header=("timestamp", "value")):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(zip(timestamps, values))


@pytest.fixture
def spike_csv(tmp_path):
    series = planted.planted_series("spike", days=10, seed=4)
    stamps = [str(t).replace("T", " ") for t in series.timestamps]
    path = tmp_path / "logins.csv"
    write_series(path, stamps, [int(v) for v in series.values])
    return path, series


def test_scores_are_written_one_row_per_input_row_in_order(spike_csv, tmp_path, capsys):
    path, series = spike_csv
    out = tmp_path / "out" / "scores.csv"
    code = timeseries_cli.main(
        ["--input", str(path), "--out", str(out), "--detector", "seasonal", "--learning-points", "2016"]
    )
    assert code == 0
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "is_anomaly"]
    assert len(rows) == len(series.values)
    assert rows[5]["timestamp"] == str(series.timestamps[5]).replace("T", " ")
    assert rows[5]["value"] == str(int(series.values[5]))
    flagged = [i for i, row in enumerate(rows) if row["is_anomaly"] == "1"]
    (_, first, last) = series.anomalies[0]
    assert flagged and all(first <= i <= last + 12 for i in flagged)
    scores = np.array([float(row["anomaly_score"]) for row in rows])
    assert scores.min() >= 0 and scores.max() <= 1
    assert "flagged" in capsys.readouterr().err


def test_other_column_names_are_read(tmp_path):
    path = tmp_path / "orders.csv"
    stamps = [f"2026-01-05T{h:02d}:{m:02d}:00Z" for h in range(10) for m in range(0, 60, 5)]
    write_series(path, stamps, [10 + (i % 7) for i in range(len(stamps))], header=("ts", "orders"))
    out = tmp_path / "scores.csv"
    code = timeseries_cli.main(
        ["--input", str(path), "--out", str(out), "--timestamp-column", "ts", "--value-column", "orders"]
    )
    assert code == 0
    assert len(out.read_text().splitlines()) == len(stamps) + 1


def bad_input_error(tmp_path, capsys, path, *extra):
    out = tmp_path / "scores.csv"
    code = timeseries_cli.main(["--input", str(path), "--out", str(out), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert not out.exists(), "nothing is written for bad input"
    assert len(err.splitlines()) == 1
    return err


def test_a_missing_file_is_one_line(tmp_path, capsys):
    err = bad_input_error(tmp_path, capsys, tmp_path / "nowhere.csv")
    assert "cannot read" in err and "nowhere.csv" in err


def test_a_missing_column_names_the_columns_found(tmp_path, capsys):
    path = tmp_path / "series.csv"
    write_series(path, ["2026-01-01 00:00:00"], [1], header=("time", "value"))
    err = bad_input_error(tmp_path, capsys, path)
    assert "no column 'timestamp'" in err and "time, value" in err


def test_an_empty_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert "the file is empty" in bad_input_error(tmp_path, capsys, path)


def test_a_value_that_is_not_a_number_names_its_line(tmp_path, capsys):
    path = tmp_path / "series.csv"
    write_series(path, [f"2026-01-01 00:{m:02d}:00" for m in range(3)], [1, "lots", 3])
    assert "line 3: value 'lots' is not a number" in bad_input_error(tmp_path, capsys, path)


def test_a_series_too_short_to_learn_from_is_one_line(tmp_path, capsys):
    path = tmp_path / "series.csv"
    write_series(path, [f"2026-01-01 00:{m:02d}:00" for m in range(10)], range(10))
    assert "too short" in bad_input_error(tmp_path, capsys, path)


def test_a_timestamp_that_is_not_a_time_is_one_line(tmp_path, capsys):
    path = tmp_path / "series.csv"
    write_series(path, ["soon"] * 60, range(60))
    assert "not a time: 'soon'" in bad_input_error(tmp_path, capsys, path)


def test_add_parser_adds_a_timeseries_subcommand_with_help():
    parser = argparse.ArgumentParser(prog="chartguard anomalies")
    subcommand = timeseries_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["timeseries", "--input", "a.csv", "--out", "b.csv"])
    assert args.run is timeseries_cli.run and args.detector == timeseries_cli.timeseries.DEFAULT_DETECTOR
    help_text = subcommand.format_help()
    assert "--timestamp-column" in help_text and "15% of the series" in help_text
