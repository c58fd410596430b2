"""The every-combination monitor: one GROUPING SETS pass over the configured dimensions, then flags.

For dimensions (device_id, ip, user_id) the cube holds the seven GROUP BYs the handbook writes by
hand (device, ip, user, device+ip, ...), each with the day's counts. A row is flagged by a fixed
rule (a threshold on one metric of one combination) or by a robust outlier test within its
combination; the history days decide whether a flagged key is new, grown or always this large.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from anomalies.config import MONITOR_METRICS, MonitorConfig, Rule

# The robust deviation's floor, in log units: where the typical spread is zero (one user per
# device) a value must still be e^(outlier_z * 0.25) times the median to be an outlier.
MIN_SCALE = 0.25
MAD_TO_SIGMA = 1.4826


def combinations(dimensions: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty subset, in the handbook's order: singles first, then pairs, ..."""
    return [c for n in range(1, len(dimensions) + 1) for c in itertools.combinations(dimensions, n)]


def combination_name(dims: Sequence[str]) -> str:
    return "+".join(dims)


def grain_columns(dimensions: Sequence[str]) -> list[str]:
    """The finest grain the cube is built from: the dimensions plus user, device and IP."""
    return list(dict.fromkeys([*dimensions, "user_id", "device_id", "ip"]))


def monitor_grain(requests: DataFrame, dimensions: Sequence[str]) -> DataFrame:
    """(day, grain columns, requests, orders, logins, failed_logins, withdrawals): one row per
    distinct grain key and day; far smaller than the requests, so the cube and the sample
    users are computed from it."""
    return requests.groupBy("day", *grain_columns(dimensions)).agg(
        F.count(F.lit(1)).alias("requests"),
        F.sum(F.when(F.col("event") == "order", 1).otherwise(0)).alias("orders"),
        F.sum(F.when(F.col("event") == "login", 1).otherwise(0)).alias("logins"),
        F.sum(F.when((F.col("event") == "login") & (F.col("status") >= 400), 1).otherwise(0)).alias(
            "failed_logins"
        ),
        F.sum(F.when(F.col("event") == "withdraw", 1).otherwise(0)).alias("withdrawals"),
    )


def monitor_cube(requests: DataFrame, dimensions: Sequence[str]) -> DataFrame:
    """(day, combination, *dimensions, *MONITOR_METRICS) for every non-empty combination, per day."""
    return cube_from_grain(monitor_grain(requests, dimensions), dimensions)


def cube_from_grain(fine: DataFrame, dimensions: Sequence[str]) -> DataFrame:
    """The cube of `monitor_cube` from `monitor_grain`'s rows: one aggregation with GROUPING SETS."""
    dims = list(dimensions)
    view = f"monitor_grain_{uuid.uuid4().hex}"
    fine.createOrReplaceTempView(view)
    sets = combinations(dims)
    quoted = [f"`{d}`" for d in dims]
    grouping_sets = ", ".join("(" + ", ".join(f"`{d}`" for d in c) + ")" for c in sets)
    # grouping_id: bit (n-1-i) is set when dimension i is rolled up.
    cases = " ".join(
        f"WHEN {sum(1 << (len(dims) - 1 - i) for i, d in enumerate(dims) if d not in c)} "
        f"THEN '{combination_name(c)}'"
        for c in sets
    )
    sql = f"""
        SELECT day, CASE grouping_id(day, {", ".join(quoted)}) {cases} END AS combination, {", ".join(quoted)},
               SUM(requests) AS requests,
               COUNT(DISTINCT user_id) AS distinct_users,
               COUNT(DISTINCT device_id) AS distinct_devices,
               COUNT(DISTINCT ip) AS distinct_ips,
               SUM(orders) AS orders, SUM(logins) AS logins, SUM(failed_logins) AS failed_logins,
               SUM(withdrawals) AS withdrawals
        FROM {view}
        GROUP BY day, GROUPING SETS ({grouping_sets})
    """
    cube = fine.sparkSession.sql(sql)
    return cube.select(
        "day", "combination", *dims, *(F.col(m).cast("long").alias(m) for m in MONITOR_METRICS)
    )


def _grouped_not_null(dims: Sequence[str]) -> Column:
    """The row's grouped dimensions all carry a value (no group of 'requests without a device')."""
    cond = F.lit(False)
    for combo in combinations(dims):
        inner = F.col("combination") == combination_name(combo)
        for d in combo:
            inner = inner & F.col(d).isNotNull()
        cond = cond | inner
    return cond


def flag_rows(cube: DataFrame, day: str, config: MonitorConfig) -> DataFrame:
    """The day's rows that break a rule or are robust outliers, with history and per-metric z.

    Runs two small Spark jobs before it returns (the per-combination medians, then the MADs),
    so `cube` should be persisted.

    Columns: combination, dimensions, metrics, z_<metric>, hist_<metric> (largest on any history
    day, null when the key was never seen), flagged (array of the flagged metrics).
    """
    dims = list(config.dimensions)
    keyed = cube.where(_grouped_not_null(dims))
    today = keyed.where(F.col("day") == day)
    history = (
        keyed.where(F.col("day") != day)
        .groupBy("combination", *dims)
        .agg(*(F.max(m).alias(f"hist_{m}") for m in MONITOR_METRICS))
    )
    # Counts are heavy-tailed (a few busy users, NAT IPs), so the test runs on log(1 + value):
    # "far above" means many times the typical value, not many units above it.
    logged = today.select("*", *(F.log1p(F.col(m)).alias(f"log_{m}") for m in MONITOR_METRICS))
    # The medians and MADs are a few numbers per combination: collected and put back as literals,
    # because joining them onto the cube would make Spark recompute the cube for each join.
    medians = _per_combination(
        logged, {f"med_{m}": F.percentile_approx(f"log_{m}", 0.5, 10_000) for m in MONITOR_METRICS}
    )
    with_median = logged.select("*", *(_by_combination(medians, f"med_{m}") for m in MONITOR_METRICS))
    mads = _per_combination(
        with_median,
        {
            f"mad_{m}": F.percentile_approx(F.abs(F.col(f"log_{m}") - F.col(f"med_{m}")), 0.5, 10_000)
            for m in MONITOR_METRICS
        },
    )
    scored = with_median.select("*", *(_by_combination(mads, f"mad_{m}") for m in MONITOR_METRICS))
    for m in MONITOR_METRICS:
        scale = F.greatest(F.col(f"mad_{m}") * MAD_TO_SIGMA, F.lit(MIN_SCALE))
        scored = scored.withColumn(f"z_{m}", (F.col(f"log_{m}") - F.col(f"med_{m}")) / scale)
    flags = []
    for m in MONITOR_METRICS:
        outlier = (F.col(f"z_{m}") >= config.outlier_z) & (F.col(m) >= config.outlier_min_value)
        rule_hits = [_rule_hit(rule) for rule in config.rules if rule.metric == m]
        hit = outlier
        for r in rule_hits:
            hit = hit | r
        flags.append(F.when(hit, F.lit(m)))
    scored = scored.withColumn("flagged", F.array_compact(F.array(*flags)))
    flagged = scored.where(F.size("flagged") > 0)
    join_on = [F.col("combination") == F.col("h_combination")] + [
        F.col(d).eqNullSafe(F.col(f"h_{d}")) for d in dims
    ]
    renamed = history.select(
        F.col("combination").alias("h_combination"),
        *(F.col(d).alias(f"h_{d}") for d in dims),
        *(F.col(f"hist_{m}") for m in MONITOR_METRICS),
    )
    joined = flagged.join(renamed, join_on, "left")
    return joined.select(
        "combination",
        *dims,
        *MONITOR_METRICS,
        *(f"z_{m}" for m in MONITOR_METRICS),
        *(f"hist_{m}" for m in MONITOR_METRICS),
        "flagged",
    )


def _per_combination(frame: DataFrame, aggregates: dict[str, Column]) -> dict[str, dict[str, Any]]:
    """combination -> {name: value} of the aggregates, computed in Spark and collected."""
    rows = frame.groupBy("combination").agg(*(a.alias(n) for n, a in aggregates.items())).collect()
    return {r["combination"]: r.asDict() for r in rows}


def _by_combination(values: dict[str, dict[str, Any]], name: str) -> Column:
    """The row's combination's collected value `name` (null for a combination not collected)."""
    column: Optional[Column] = None
    for combination, row in values.items():
        value = F.lit(row[name]).cast("double")
        column = (
            F.when(F.col("combination") == combination, value)
            if column is None
            else column.when(F.col("combination") == combination, value)
        )
    return (F.lit(None).cast("double") if column is None else column).alias(name)


def _rule_hit(rule: Rule) -> Column:
    return (F.col("combination") == combination_name(rule.dimensions)) & (F.col(rule.metric) > rule.above)


@dataclass(frozen=True)
class FlaggedKey:
    """One flagged row, judged: the metric that stands out most, against its history."""

    combination: str
    key: dict[str, str]
    metrics: dict[str, int]
    flagged: tuple[str, ...]
    metric: str
    value: float
    expected: Optional[float]
    z: float
    ratio: Optional[float]
    new: bool
    severity: str
    score: float


def judge(rows: Sequence[Any], config: MonitorConfig, *, history_available: bool) -> list[FlaggedKey]:
    """Severity and score per flagged row (docs/anomalies.md, "Severity"); redundant supersets dropped.

    high: the key is new against the history days, or its leading metric grew at least
    growth_factor times its largest history value. low: it was this large before (a proxy IP
    with hundreds of users every day). medium: in between, or no history day to compare with.
    """
    judged = []
    rules = {(combination_name(r.dimensions), r.metric): r.above for r in config.rules}
    for row in rows:
        d = row.asDict() if hasattr(row, "asDict") else dict(row)
        combo = d["combination"]
        key = {dim: d[dim] for dim in combo.split("+")}
        best: Optional[tuple[float, str]] = None
        for m in d["flagged"]:
            strength = max(float(d[f"z_{m}"]), d[m] / max(rules.get((combo, m), d[m]), 1.0))
            if best is None or strength > best[0]:
                best = (strength, m)
        assert best is not None
        strength, metric = best
        seen = any(d[f"hist_{m}"] is not None for m in MONITOR_METRICS)
        expected = (
            float(d[f"hist_{metric}"])
            if d[f"hist_{metric}"] is not None
            else (0.0 if history_available else None)
        )
        ratio = None if expected is None else d[metric] / max(expected, 1.0)
        new = history_available and not seen
        if not history_available:
            severity, weight = "medium", 1.0
        elif new or (ratio is not None and ratio >= config.growth_factor):
            severity, weight = "high", min(ratio or 10.0, 10.0) if not new else 10.0
        elif ratio is not None and ratio >= (1 + config.growth_factor) / 2:
            severity, weight = "medium", ratio
        else:
            severity, weight = "low", max(ratio or 0.0, 0.1)
        judged.append(
            FlaggedKey(
                combination=combo,
                key=key,
                metrics={m: int(d[m]) for m in MONITOR_METRICS},
                flagged=tuple(d["flagged"]),
                metric=metric,
                value=float(d[metric]),
                expected=expected,
                z=float(d[f"z_{metric}"]),
                ratio=ratio,
                new=new,
                severity=severity,
                score=round(strength * weight, 3),
            )
        )
    return _drop_redundant(judged)


def _drop_redundant(keys: list[FlaggedKey]) -> list[FlaggedKey]:
    """A combination's key adds nothing when a sub-key is flagged with the same leading value
    (device+ip of a farm whose device alone already shows its 40 users)."""
    index = {(k.combination, tuple(sorted(k.key.items()))): k for k in keys}
    kept = []
    for k in keys:
        dims = k.combination.split("+")
        redundant = False
        for n in range(1, len(dims)):
            for sub in itertools.combinations(dims, n):
                other = index.get((combination_name(sub), tuple(sorted((d, k.key[d]) for d in sub))))
                if other is not None and other.metrics[k.metric] == k.metrics[k.metric]:
                    redundant = True
        if not redundant:
            kept.append(k)
    return kept
