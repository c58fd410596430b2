"""Per-step metric series (requests, logins, failed logins, ...) over the history days and the day.

One aggregation in Spark by time bucket; the result is small (288 points a day at 5 minutes),
so it is filled (steps without a request are zeros) and judged on the driver with numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# metric -> the event it counts (None: every request)
EVENT_METRICS = {
    "requests": None,
    "logins": "login",
    "registrations": "register",
    "orders": "order",
    "withdrawals": "withdraw",
    "queries": "query",
}
SERIES_METRICS = (*EVENT_METRICS, "failed_logins", "distinct_users")


def metric_series(requests: DataFrame, step_minutes: int) -> DataFrame:
    """(bucket_start epoch seconds, metrics...) per step, for every day in `requests`."""
    step = step_minutes * 60
    # Epoch seconds, not a timestamp: collected timestamps would take the driver's local zone.
    bucket = (F.floor(F.unix_timestamp("ts") / step) * step).cast("long")
    aggs = [
        F.count(F.lit(1)).alias(m)
        if event is None
        else F.sum(F.when(F.col("event") == event, 1).otherwise(0)).alias(m)
        for m, event in EVENT_METRICS.items()
    ]
    aggs.append(
        F.sum(F.when((F.col("event") == "login") & (F.col("status") >= 400), 1).otherwise(0)).alias(
            "failed_logins"
        )
    )
    aggs.append(F.count_distinct("user_id").alias("distinct_users"))
    return requests.groupBy(bucket.alias("bucket_start")).agg(*aggs)


@dataclass(frozen=True)
class Series:
    """Aligned arrays over the history days then the day; `learning_points` = the history's points."""

    timestamps: np.ndarray  # datetime64[s], UTC
    values: dict[str, np.ndarray]
    learning_points: int
    step_seconds: int


def fill_series(rows: Sequence[dict], days: Sequence[date], step_minutes: int) -> Series:
    """Every step of the given (consecutive) days, zeros where no request arrived."""
    step = step_minutes * 60
    first = datetime(days[0].year, days[0].month, days[0].day, tzinfo=timezone.utc)
    points = len(days) * 86_400 // step
    stamps = np.datetime64(days[0].isoformat(), "s") + np.arange(points) * np.timedelta64(step, "s")
    values = {m: np.zeros(points, dtype=float) for m in SERIES_METRICS}
    start = int(first.timestamp())
    for row in rows:
        index = (int(row["bucket_start"]) - start) // step
        if 0 <= index < points:
            for m in SERIES_METRICS:
                values[m][index] = float(row[m] or 0)
    return Series(stamps, values, learning_points=(len(days) - 1) * 86_400 // step, step_seconds=step)
