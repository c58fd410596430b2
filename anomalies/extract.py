"""Read request logs (contract 8) for a day and its history; sort each line into a row or a rejection.

Lines are read as text and parsed with `from_json`, so a line that is not JSON, misses a required
field or carries a bad timestamp becomes a rejection with a reason instead of failing the read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

REQUIRED = ("ts", "request_id", "event", "api")
OPTIONAL = ("user_id", "device_id", "ip", "user_agent", "client_id", "referer", "order_id")
# Every field is read as text (a number where text is expected is still a value); status is cast.
LINE_SCHEMA = T.StructType(
    [T.StructField(name, T.StringType()) for name in (*REQUIRED, *OPTIONAL, "status")]
    + [T.StructField("_corrupt", T.StringType())]
)
REJECT_REASONS = (
    "blank_line",
    "not_json",
    *(f"missing_{name}" for name in REQUIRED),
    "bad_timestamp",
    "outside_day",
)


def day_path(logs: str, day: date) -> str:
    return f"{logs.rstrip('/')}/day={day.isoformat()}"


def history_days(day: date, count: int) -> list[date]:
    return [day - timedelta(days=count - i) for i in range(count)]


def path_exists(spark: SparkSession, path: str) -> bool:
    """Through Hadoop's FileSystem, so local folders and s3:// answer the same way."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark._jsparkSession.sessionState().newHadoopConf())
    return bool(fs.exists(hadoop_path))


def read_lines(spark: SparkSession, logs: str, days: Sequence[date]) -> DataFrame:
    """(day, value) for every line of the given days' folders; JSON Lines, gzip or not."""
    if not days:
        return spark.createDataFrame([], "day string, value string")
    # One read per day folder tagged with its day: cheaper than parsing each line's file name.
    frames = [
        spark.read.option("recursiveFileLookup", "true")
        .text(day_path(logs, d))
        .select(F.lit(d.isoformat()).alias("day"), "value")
        for d in days
    ]
    return reduce(DataFrame.unionAll, frames)


def parse_lines(lines: DataFrame) -> DataFrame:
    """(day, reason, columns of contract 8 with ts as a timestamp): reason is null for a good row."""
    parsed = lines.select(
        "day",
        "value",
        F.from_json(
            "value", LINE_SCHEMA, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt"}
        ).alias("r"),
    )
    ts = F.try_to_timestamp(F.col("r.ts"))
    reason: Column = F.when(F.trim("value") == "", "blank_line").when(
        F.col("r").isNull() | F.col("r._corrupt").isNotNull(), "not_json"
    )
    for name in REQUIRED:
        reason = reason.when(F.col(f"r.{name}").isNull() | (F.trim(f"r.{name}") == ""), f"missing_{name}")
    reason = reason.when(ts.isNull(), "bad_timestamp").when(
        F.date_format(ts, "yyyy-MM-dd") != F.col("day"), "outside_day"
    )
    fields = [F.col(f"r.{name}").alias(name) for name in (*REQUIRED[1:], *OPTIONAL)]
    status = F.expr("try_cast(r.status AS INT)").alias("status")
    return parsed.select("day", reason.alias("reason"), ts.alias("ts"), *fields, status)


def rejected_counts(parsed: DataFrame) -> dict[str, dict[str, int]]:
    """day -> reason -> count, for the rejected lines only."""
    rows = parsed.where(F.col("reason").isNotNull()).groupBy("day", "reason").count().collect()
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        out.setdefault(row["day"], {})[row["reason"]] = int(row["count"])
    return out


def accepted(parsed: DataFrame) -> DataFrame:
    return parsed.where(F.col("reason").isNull()).drop("reason")


def records_frame(spark: SparkSession, records: Sequence[dict[str, Any]], day: str) -> DataFrame:
    """Good rows from Python dicts (tests, benchmarks): the same columns `accepted` returns."""
    import json

    lines = spark.createDataFrame([(day, json.dumps(r)) for r in records], "day string, value string")
    return accepted(parse_lines(lines))
