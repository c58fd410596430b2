"""The anomaly-discovery job's one entry point: `spark-submit anomalies/job.py --logs ... --day ...`.

The same file runs under spark-submit, on EMR Serverless (its entryPoint, with the package zip in
--py-files) and from `chartguard anomalies run` (which starts a local[*] session). It only parses
arguments, wires input and output and calls the pure DataFrame functions of the other modules.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Optional

from pyspark import StorageLevel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from anomalies import extract, findings, monitor, patterns, samples, series
from anomalies.config import ConfigError, JobConfig, load_config
from anomalies.findings import Finding
from anomalies.store import DayOutput

MONITOR_ROWS_KEPT = 500


class MissingInput(Exception):
    """The analysed day's folder does not exist: the run fails rather than report a clean day."""


@dataclass
class RunResult:
    day: str
    out: str
    findings: list[Finding]
    summary: dict[str, Any]
    patterns: list[dict[str, Any]] = field(default_factory=list)


def build_session(
    master: Optional[str] = None, *, driver_memory: str = "4g", shuffle_partitions: int = 8
) -> SparkSession:
    """A local session when `master` is given; else the one spark-submit / EMR Serverless configured."""
    builder = SparkSession.builder.appName("chartguard-anomalies").config("spark.sql.session.timeZone", "UTC")
    if master:
        builder = (
            builder.master(master)
            .config("spark.driver.memory", driver_memory)
            .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
            # A gzip part cannot be split: one part per task, so both cores stay busy to the end.
            .config("spark.sql.files.openCostInBytes", str(128 * 2**20))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
        )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(self.timings.get(stage, 0.0) + now - self._last, 3)
        self._last = now


def run_day(
    spark: SparkSession, *, logs: str, day: date, out: str, config: JobConfig, detector: Optional[str] = None
) -> RunResult:
    """Analyse `day` against the history days before it and replace `<out>/day=<day>/`."""
    clock = _Clock()
    started = time.perf_counter()
    _check_detector(detector or config.series.detector)
    if not extract.path_exists(spark, extract.day_path(logs, day)):
        raise MissingInput(f"no logs for {day}: {extract.day_path(logs, day)} does not exist")
    wanted = extract.history_days(day, config.history_days)
    found = [d for d in wanted if extract.path_exists(spark, extract.day_path(logs, d))]
    days = [*found, day]
    cfg, pcfg, scfg = config.monitor, config.patterns, config.series
    # Only the columns the stages read are kept, so the cached rows stay small.
    used = [
        "day",
        "reason",
        "ts",
        "event",
        "status",
        *monitor.grain_columns(cfg.dimensions),
        *pcfg.dimensions,
    ]
    parsed = (
        extract.parse_lines(extract.read_lines(spark, logs, days))
        .select(*dict.fromkeys(used))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    per_day = parsed.groupBy("day", "reason").count().collect()
    day_text = f"{day}"
    lines = {d: 0 for d in map(str, days)}
    rejected: dict[str, dict[str, int]] = {}
    for row in per_day:
        lines[row["day"]] = lines.get(row["day"], 0) + int(row["count"])
        if row["reason"] is not None:
            rejected.setdefault(row["day"], {})[row["reason"]] = int(row["count"])
    accepted_today = lines[day_text] - sum(rejected.get(day_text, {}).values())
    requests = extract.accepted(parsed)
    clock.lap("read")

    history_available = bool(found)
    grain = monitor.monitor_grain(requests, cfg.dimensions).persist(StorageLevel.MEMORY_AND_DISK)
    cube = monitor.cube_from_grain(grain, cfg.dimensions).persist(StorageLevel.MEMORY_AND_DISK)
    strongest = F.greatest(*(F.col(f"z_{m}") for m in monitor.MONITOR_METRICS))
    flagged_rows = monitor.flag_rows(cube, day_text, cfg).orderBy(strongest.desc()).limit(5_000).collect()
    judged = monitor.judge(flagged_rows, cfg, history_available=history_available)
    judged.sort(key=lambda k: (findings.SEVERITIES.index(k.severity), -k.score))
    aggregate = findings.aggregate_findings(day, judged[: cfg.max_findings])
    monitor_rows = [
        {
            "combination": k.combination,
            "key": k.key,
            "metrics": k.metrics,
            "flagged": list(k.flagged),
            "severity": k.severity,
            "score": k.score,
            "expected": k.expected,
        }
        for k in judged[:MONITOR_ROWS_KEPT]
    ]
    cube.unpersist()
    clock.lap("cube")

    today = requests.where(F.col("day") == day_text)
    itemsets = (
        patterns.frequent_itemsets(patterns.transactions(today, pcfg.dimensions), pcfg.min_support).collect()
        if accepted_today
        else []
    )
    closed = patterns.closed_patterns([(r["items"], r["freq"]) for r in itemsets], accepted_today)
    over = [p for p in closed if p.share >= pcfg.share_threshold]
    past_shares = patterns.history_shares(requests, day_text, over) if history_available else {}
    judged_patterns = patterns.judge_patterns(over, past_shares, pcfg, history_available=history_available)
    pattern_list = [
        {"items": list(p.items), "count": p.count, "share": round(p.share, 6), "printed": p.printed()}
        for p in closed[: pcfg.top]
    ]
    clock.lap("fpgrowth")

    rows = [r.asDict() for r in series.metric_series(requests, scfg.step_minutes).collect()]
    filled = series.fill_series(rows, days, scfg.step_minutes)
    ts_findings, series_records, ts_status = _detect(day, filled, detector or scfg.detector)
    clock.lap("series")

    all_findings = [*aggregate, *findings.pattern_findings(day, judged_patterns), *ts_findings]
    all_findings = samples.with_sample_users(grain.where(F.col("day") == day_text), today, all_findings)
    clock.lap("sample_users")
    ordered = findings.ranked(all_findings)
    grain.unpersist()
    parsed.unpersist()
    summary = {
        "day": day_text,
        "logs": logs,
        "rows_read": lines[day_text],
        "rows_accepted": accepted_today,
        "rows_rejected": dict(sorted(rejected.get(day_text, {}).items())),
        "history": {
            "days_wanted": [f"{d}" for d in wanted],
            "days_found": [f"{d}" for d in found],
            "rows_read": {f"{d}": lines[f"{d}"] for d in found},
            "rows_rejected": {f"{d}": rejected[f"{d}"] for d in found if f"{d}" in rejected},
        },
        "findings": len(ordered),
        "counts": findings.counts_by(ordered),
        "timeseries": ts_status,
        "config": {"monitor_dimensions": list(cfg.dimensions), "pattern_dimensions": list(pcfg.dimensions)},
    }
    from anomalies.alerts import alert_message

    summary["alert"] = alert_message(summary, ordered)
    output = DayOutput(spark, out, day)
    output.clear()
    output.write_jsonl("findings.jsonl", (f.to_json() for f in ordered))
    output.write_jsonl("patterns.jsonl", pattern_list)
    output.write_jsonl("monitor.jsonl", monitor_rows)
    output.write_jsonl("series.jsonl", series_records)
    _write_parquet(spark, output, ordered, series_records)
    clock.lap("write")
    summary["timings_seconds"] = {**clock.timings, "total": round(time.perf_counter() - started, 3)}
    output.write_json("summary.json", summary)
    return RunResult(day_text, output.folder, ordered, summary, pattern_list)


def _check_detector(name: Optional[str]) -> None:
    """A misspelt detector stops the run before any work, like any bad setting."""
    try:
        from anomalies.timeseries import DETECTORS
    except ImportError:
        return
    if name and name not in DETECTORS:
        raise ConfigError(f"series.detector={name!r}: choose one of {', '.join(DETECTORS)}")


def _detect(
    day: date, filled: series.Series, detector: Optional[str]
) -> tuple[list[Finding], list[dict[str, Any]], dict[str, Any]]:
    """The time-series detector on each metric; the history days are its learning points."""
    import numpy as np

    first = filled.learning_points
    stamps = filled.timestamps[first:]
    records: list[dict[str, Any]] = []
    out: list[Finding] = []
    try:
        from anomalies import timeseries
    except ImportError as error:
        status: dict[str, Any] = {"detector": None, "error": f"time-series detector unavailable: {error}"}
        timeseries = None  # type: ignore[assignment]
    else:
        status = {"detector": detector or timeseries.DEFAULT_DETECTOR, "learning_points": first}
    for metric, values in filled.values.items():
        detection = None
        if timeseries is not None and first > 0:
            kwargs: dict[str, Any] = {"learning_points": first, "step_seconds": float(filled.step_seconds)}
            if detector:
                kwargs["detector"] = detector
            try:
                detection = timeseries.detect(filled.timestamps, values, **kwargs)
            except timeseries.SeriesError as error:  # one unreadable series must not lose the day
                status.setdefault("errors", {})[metric] = str(error)
        day_values = values[first:]
        nan = np.full(len(day_values), np.nan)
        part = {
            name: (np.asarray(getattr(detection, name))[first:] if detection is not None else nan)
            for name in ("expected", "lower", "upper", "score")
        }
        anomalous = (
            np.asarray(detection.is_anomaly, dtype=bool)[first:]
            if detection is not None
            else np.zeros(len(day_values), bool)
        )
        for i, stamp in enumerate(stamps):
            records.append(
                {
                    "metric": metric,
                    "ts": f"{stamp.astype('datetime64[s]')}Z",
                    "value": float(day_values[i]),
                    **{k: (None if np.isnan(v[i]) else round(float(v[i]), 4)) for k, v in part.items()},
                    "anomaly": bool(anomalous[i]),
                }
            )
        if detection is not None:
            out.extend(
                findings.timeseries_findings(
                    day,
                    metric,
                    stamps,
                    day_values,
                    part["expected"],
                    part["lower"],
                    part["upper"],
                    part["score"],
                    anomalous,
                    filled.step_seconds,
                )
            )
    if first == 0:
        status["note"] = "no history day: the series are recorded but not judged"
    return out, records, status


FINDING_SCHEMA = (
    "finding_id string, day string, kind string, key map<string,string>, metric string, value double, "
    "expected double, score double, severity string, start string, `end` string, detail string, "
    "sample_users array<string>"
)
SERIES_SCHEMA = "metric string, ts string, value double, expected double, lower double, upper double, score double, anomaly boolean"


def _write_parquet(
    spark: SparkSession, output: DayOutput, found: Sequence[Finding], series_records: Sequence[dict[str, Any]]
) -> None:
    rows = [
        {
            **f.to_json(),
            "value": float(f.value),
            "expected": None if f.expected is None else float(f.expected),
        }
        for f in found
    ]
    spark.createDataFrame(rows, FINDING_SCHEMA).coalesce(1).write.mode("overwrite").parquet(
        output.path("findings.parquet")
    )
    spark.createDataFrame(list(series_records), SERIES_SCHEMA).coalesce(1).write.mode("overwrite").parquet(
        output.path("series.parquet")
    )


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anomalies.job",
        description="Analyse one day of request logs (contract 8) and write its findings (contract 9).",
    )
    parser.add_argument(
        "--logs",
        required=True,
        help="the logs' prefix (folder or s3://bucket/prefix) holding day=YYYY-MM-DD/",
    )
    parser.add_argument("--day", required=True, type=parse_day, help="the day to analyse, YYYY-MM-DD (UTC)")
    parser.add_argument(
        "--out", required=True, help="where day=YYYY-MM-DD/ with the findings goes (folder or s3://)"
    )
    parser.add_argument("--config", help="a TOML configuration file (default: the shipped defaults)")
    parser.add_argument("--detector", help="the time-series detector (default: the configured one)")
    parser.add_argument("--master", help="e.g. local[*]; omit under spark-submit and on EMR Serverless")
    return parser


def read_config(path: Optional[str], spark: Optional[SparkSession] = None) -> JobConfig:
    if not path:
        return load_config()
    if "://" in path and spark is not None:
        return load_config("\n".join(r["value"] for r in spark.read.text(path).collect()))
    with open(path, encoding="utf-8") as f:
        return load_config(f.read())


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    # spark-submit hands its Python a gateway to the JVM it started; a plain `python -m` run has none.
    master = args.master or (None if os.environ.get("PYSPARK_GATEWAY_PORT") else "local[*]")
    spark = build_session(master)
    try:
        config = read_config(args.config, spark)
        result = run_day(
            spark, logs=args.logs, day=args.day, out=args.out, config=config, detector=args.detector
        )
    except (ConfigError, MissingInput) as error:
        print(f"anomalies: {error}", file=sys.stderr)
        return 2
    counts = result.summary["counts"]["severity"]
    print(
        f"anomalies: {result.day}: {result.summary['rows_read']:,} lines read, "
        f"{sum(result.summary['rows_rejected'].values()):,} rejected; {len(result.findings)} findings "
        f"(high {counts['high']}, medium {counts['medium']}, low {counts['low']}) in {result.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
