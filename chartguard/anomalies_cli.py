"""`chartguard anomalies ...`: simulate request logs, run the Spark job on a day, list and report findings.

`register(subparsers)` adds the command group; `run_batch_demo` is the batch half of `make demo`.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional, Sequence

from chartguard.stack_access import UserError

SEVERITY_ORDER = ("high", "medium", "low")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def register(subparsers: Any) -> None:
    """Add `anomalies` with simulate, run, findings, report (and the detector's timeseries)."""
    group = subparsers.add_parser(
        "anomalies",
        help="batch anomaly discovery on request logs (Spark)",
        description="Find what is unusual in a day of request logs: every-combination counts, "
        "frequent patterns and metric series, as findings an analyst can work (docs/anomalies.md).",
    )
    commands = group.add_subparsers(dest="anomalies_command", metavar="COMMAND", required=True)
    formatter = argparse.RawDescriptionHelpFormatter

    sim = commands.add_parser(
        "simulate",
        help="write simulated request logs with planted anomalies",
        formatter_class=formatter,
        description="Write N days of simulated request logs (contract 8, gzip JSON Lines under\n"
        "DIR/day=YYYY-MM-DD/) ending yesterday, with a device farm, credential stuffing, a scraper,\n"
        "an account-takeover ring and a registration burst planted on the last day;\n"
        "DIR/ground_truth.json says what was planted.\n\n"
        "  chartguard anomalies simulate --out logs --days 7 --users 3000",
    )
    sim.add_argument("--out", required=True, type=Path, help="the folder to write day=YYYY-MM-DD/ into")
    sim.add_argument("--days", type=_positive, default=7, help="days to simulate (default 7)")
    sim.add_argument("--users", type=_positive, default=3000, help="ordinary users (default 3000)")
    sim.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    sim.add_argument(
        "--last-day", type=_day, help="the last (planted) day, YYYY-MM-DD (default: yesterday, UTC)"
    )
    sim.add_argument("--clean", action="store_true", help="plant nothing")
    sim.add_argument("--targets", help="comma-separated accounts the takeover ring logs into")
    sim.set_defaults(run=run_simulate)

    run = commands.add_parser(
        "run",
        help="run the Spark job on one day of logs",
        formatter_class=formatter,
        description="Analyse one day (and the history days before it) with Spark in local mode and\n"
        "write OUT/day=YYYY-MM-DD/ (findings.jsonl, findings.parquet, summary.json, ...). A rerun\n"
        "replaces the day. Exit 0 when the run completed, whatever it found; 2 on a missing day\n"
        "or a bad configuration. --alert-topic publishes a summary to SNS when a finding is high.\n\n"
        "s3:// paths are read through Hadoop's S3 connector: built in on EMR Serverless; on this\n"
        "machine it needs hadoop-aws on Spark's classpath (`aws s3 sync` a day down instead).\n\n"
        "  chartguard anomalies run --logs logs --day 2026-11-24 --out findings",
    )
    run.add_argument("--logs", required=True, help="folder or s3://bucket/prefix holding day=YYYY-MM-DD/")
    run.add_argument("--day", required=True, type=_day, help="the day to analyse, YYYY-MM-DD (UTC)")
    run.add_argument("--out", required=True, help="folder or s3:// prefix for the findings")
    run.add_argument("--config", help="a TOML configuration (default: the shipped one)")
    run.add_argument("--detector", help="the time-series detector (default: the configured one)")
    run.add_argument("--alert-topic", metavar="ARN", help="SNS topic for the high-severity summary")
    run.add_argument("--master", default="local[*]", help="Spark master (default local[*])")
    run.set_defaults(run=run_job)

    fnd = commands.add_parser(
        "findings",
        help="list a day's findings, highest severity first",
        formatter_class=formatter,
        description="List the findings of one day from OUT/day=YYYY-MM-DD/findings.jsonl, highest\n"
        "severity first, then score.\n\n"
        "  chartguard anomalies findings --out findings --day 2026-11-24 --severity high",
    )
    fnd.add_argument("--out", required=True, type=Path, help="the job's output folder")
    fnd.add_argument("--day", required=True, type=_day, help="YYYY-MM-DD")
    fnd.add_argument("--severity", choices=SEVERITY_ORDER, help="only this severity and above")
    fnd.add_argument("--limit", type=_positive, help="at most N findings")
    fnd.add_argument("--json", action="store_true", help="the findings as a JSON array")
    fnd.set_defaults(run=run_findings)

    rep = commands.add_parser(
        "report",
        help="write the day's HTML report",
        formatter_class=formatter,
        description="Write a self-contained HTML report of one day: the monitor table with its\n"
        "suspicious cells highlighted, the top patterns, and each metric series with its band and\n"
        "anomalies marked.\n\n"
        "  chartguard anomalies report --out findings --day 2026-11-24 --html report.html",
    )
    rep.add_argument("--out", required=True, type=Path, help="the job's output folder")
    rep.add_argument("--day", required=True, type=_day, help="YYYY-MM-DD")
    rep.add_argument("--html", type=Path, help="where to write it (default OUT/day=D/report.html)")
    rep.set_defaults(run=run_report)

    try:
        from chartguard import timeseries_cli
    except ImportError:  # the detector's command ships with anomalies.timeseries
        return
    timeseries_cli.add_parser(commands)


def run_simulate(args: argparse.Namespace) -> int:
    from anomalies.simulate import simulate_logs

    targets = [t for t in (args.targets or "").split(",") if t]
    truth = simulate_logs(
        args.out,
        days=args.days,
        users=args.users,
        seed=args.seed,
        last_day=args.last_day,
        plant=not args.clean,
        targets=targets,
    )
    total = sum(truth.requests_per_day.values())
    print(
        f"simulated {total:,} requests over {len(truth.days)} days ({truth.days[0]} .. {truth.days[-1]}) in {args.out}"
    )
    for p in truth.planted:
        print(
            f"  planted {p.kind}: {p.requests:,} requests {p.start[11:16]}-{p.end[11:16]} UTC, keys {p.keys}"
        )
    return 0


def run_job(args: argparse.Namespace) -> int:
    from anomalies.config import ConfigError
    from anomalies.job import MissingInput, build_session, read_config, run_day

    spark = build_session(args.master)
    try:
        config = read_config(args.config, spark)
        result = run_day(
            spark, logs=args.logs, day=args.day, out=args.out, config=config, detector=args.detector
        )
    except (ConfigError, MissingInput, OSError) as error:
        raise UserError(str(error)) from error
    finally:
        spark.stop()
    print(_headline(result.summary))
    if args.alert_topic:
        import boto3

        from anomalies.alerts import publish_alert

        message_id = publish_alert(boto3.client("sns"), args.alert_topic, result.summary)
        print(
            f"alert published to {args.alert_topic}: {message_id}"
            if message_id
            else "no high-severity finding: no alert"
        )
    return 0


def _headline(summary: dict[str, Any]) -> str:
    sev = summary["counts"]["severity"]
    rejected = sum(summary["rows_rejected"].values())
    reasons = ", ".join(f"{k} {v}" for k, v in summary["rows_rejected"].items())
    return (
        f"{summary['day']}: {summary['rows_read']:,} lines read, {rejected:,} rejected"
        f"{f' ({reasons})' if reasons else ''}; {summary['findings']} findings: high {sev['high']}, "
        f"medium {sev['medium']}, low {sev['low']} ({summary['timings_seconds']['total']:.0f} s)"
    )


def load_findings(out: Path, day: date) -> list[dict[str, Any]]:
    path = out / f"day={day}" / "findings.jsonl"
    if not path.exists():
        raise UserError(
            f"no findings for {day}: {path} does not exist (run `chartguard anomalies run` first)"
        )
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted(rows, key=lambda f: (SEVERITY_ORDER.index(f["severity"]), -f["score"]))


def run_findings(args: argparse.Namespace) -> int:
    rows = load_findings(args.out, args.day)
    if args.severity:
        rows = [f for f in rows if SEVERITY_ORDER.index(f["severity"]) <= SEVERITY_ORDER.index(args.severity)]
    rows = rows[: args.limit] if args.limit else rows
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for line in finding_lines(rows):
        print(line)
    return 0


def finding_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = [f"{'severity':<8} {'kind':<10} {'score':>9}  detail"]
    lines += [f"{f['severity']:<8} {f['kind']:<10} {f['score']:>9.1f}  {f['detail']}" for f in rows]
    return lines


def run_report(args: argparse.Namespace) -> int:
    from anomalies.report import write_report

    target = args.html or args.out / f"day={args.day}" / "report.html"
    try:
        write_report(args.out / f"day={args.day}", target)
    except FileNotFoundError as error:
        raise UserError(f"{error}: run `chartguard anomalies run` for {args.day} first") from error
    print(f"report: {target}")
    return 0


def run_batch_demo(
    out_dir: Path,
    *,
    users: int = 3000,
    days: int = 7,
    seed: int = 7,
    targets: Sequence[str] = (),
    last_day: Optional[date] = None,
) -> str:
    """Simulate a week, run the job on its last day, write the report; return what an analyst sees first."""
    from anomalies.config import load_config
    from anomalies.job import build_session, run_day
    from anomalies.report import write_report
    from anomalies.simulate import simulate_logs

    started = time.perf_counter()
    last = last_day or datetime.now(timezone.utc).date() - timedelta(days=1)
    logs, findings_dir = out_dir / "logs", out_dir / "findings"
    truth = simulate_logs(logs, days=days, users=users, seed=seed, last_day=last, targets=targets)
    spark = build_session("local[*]")
    try:
        result = run_day(spark, logs=str(logs), day=last, out=str(findings_dir), config=load_config())
    finally:
        spark.stop()
    report = findings_dir / f"day={last}" / "report.html"
    write_report(findings_dir / f"day={last}", report)
    high = [f.to_json() for f in result.findings if f.severity == "high"]
    found_kinds = _planted_found(truth, result.findings)
    lines = [
        f"batch: {sum(truth.requests_per_day.values()):,} simulated requests over {days} days; "
        + _headline(result.summary),
        f"batch: planted anomalies found: {sum(found_kinds.values())}/{len(found_kinds)} "
        f"({', '.join(k + ('' if ok else ' MISSED') for k, ok in found_kinds.items())})",
        *("batch:   " + line for line in finding_lines(high[:8])),
        f"batch: report {report} ({time.perf_counter() - started:.0f} s)",
    ]
    return "\n".join(lines)


def _planted_found(truth: Any, found: Sequence[Any]) -> dict[str, bool]:
    """Each planted anomaly is found when a high finding carries its keys (or its series)."""
    out = {}
    for p in truth.planted:
        if p.kind == "registration_burst":
            hit = any(
                f.kind == "timeseries" and f.key.get("metric") == "registrations" and f.severity == "high"
                for f in found
            )
        else:
            hit = any(
                f.severity == "high" and any(f.key.get(k) == v for k, v in p.keys.items() if k != "api")
                for f in found
            )
        out[p.kind] = hit
    return out
