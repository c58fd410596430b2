"""The monitor's one GROUPING SETS pass equals the seven GROUP BYs the handbook writes by hand."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from anomalies.config import MONITOR_METRICS, MonitorConfig, Rule
from anomalies.monitor import judge, monitor_cube

DAY = "2026-11-24"
T0 = datetime(2026, 11, 24, 9, tzinfo=timezone.utc)
# (event, user, device, ip, status): a shared device, a shared IP, a missing device, a failed login.
FIXTURE = [
    ("login", "alice", "phone-1", "10.0.0.1", 200),
    ("order", "alice", "phone-1", "10.0.0.1", 200),
    ("login", "bob", "phone-1", "10.0.0.1", 401),
    ("login", "bob", "phone-1", "10.0.0.1", 200),
    ("withdraw", "bob", "phone-2", "10.0.0.2", 200),
    ("query", "carol", "phone-3", "10.0.0.1", 200),
    ("order", "carol", None, "10.0.0.1", 200),
    ("query", None, "phone-3", "10.0.0.3", 200),
]
SEVEN_GROUP_BYS = [
    ("device_id",),
    ("ip",),
    ("user_id",),
    ("device_id", "ip"),
    ("device_id", "user_id"),
    ("ip", "user_id"),
    ("device_id", "ip", "user_id"),
]


@pytest.fixture(scope="module")
def requests(spark):
    rows = [(DAY, T0, f"r{i}", e, "/x", u, d, ip, s) for i, (e, u, d, ip, s) in enumerate(FIXTURE)]
    return spark.createDataFrame(
        rows,
        "day string, ts timestamp, request_id string, event string, api string, user_id string, "
        "device_id string, ip string, status int",
    )


@pytest.fixture(scope="module")
def cube(requests):
    return monitor_cube(requests, ["device_id", "ip", "user_id"]).cache()


def hand_group_by(requests, dims):
    return requests.groupBy("day", *dims).agg(
        F.count(F.lit(1)).alias("requests"),
        F.countDistinct("user_id").alias("distinct_users"),
        F.countDistinct("device_id").alias("distinct_devices"),
        F.countDistinct("ip").alias("distinct_ips"),
        F.sum((F.col("event") == "order").cast("long")).alias("orders"),
        F.sum((F.col("event") == "login").cast("long")).alias("logins"),
        F.sum(((F.col("event") == "login") & (F.col("status") >= 400)).cast("long")).alias("failed_logins"),
        F.sum((F.col("event") == "withdraw").cast("long")).alias("withdrawals"),
    )


@pytest.mark.parametrize("dims", SEVEN_GROUP_BYS, ids=["+".join(d) for d in SEVEN_GROUP_BYS])
def test_cube_rows_equal_the_hand_written_group_by(requests, cube, dims):
    rows = cube.where(F.col("combination") == "+".join(dims)).select("day", *dims, *MONITOR_METRICS)
    expected = hand_group_by(requests, dims).select(
        "day", *dims, *(F.col(m).cast("long").alias(m) for m in MONITOR_METRICS)
    )
    assert_df_equality(rows, expected, ignore_row_order=True, ignore_nullable=True)


def test_cube_holds_exactly_the_seven_combinations_and_the_hand_counted_values(cube):
    assert {r["combination"] for r in cube.select("combination").distinct().collect()} == {
        "+".join(d) for d in SEVEN_GROUP_BYS
    }
    phone1 = cube.where((F.col("combination") == "device_id") & (F.col("device_id") == "phone-1")).first()
    # alice and bob, four requests, two logins of which one failed, one order
    assert (phone1["requests"], phone1["distinct_users"], phone1["logins"], phone1["failed_logins"]) == (
        4,
        2,
        3,
        1,
    )
    ip1 = cube.where((F.col("combination") == "ip") & (F.col("ip") == "10.0.0.1")).first()
    assert (ip1["requests"], ip1["distinct_users"], ip1["distinct_devices"], ip1["orders"]) == (6, 3, 2, 2)


def _row(combination, key, value, z, hist):
    row = {"combination": combination, **key, "flagged": ["distinct_users"]}
    for m in MONITOR_METRICS:
        row[m], row[f"z_{m}"], row[f"hist_{m}"] = 0, 0.0, None
    row["distinct_users"], row["z_distinct_users"] = value, z
    if hist is not None:
        row["hist_distinct_users"], row["hist_requests"] = hist, hist
    return row


CONFIG = MonitorConfig(
    dimensions=("device_id", "ip", "user_id"),
    rules=(Rule(("ip",), "distinct_users", 50),),
    outlier_z=10,
    outlier_min_value=20,
    growth_factor=3,
    max_findings=100,
)


def test_judge_ranks_a_new_key_high_and_an_always_large_proxy_low():
    proxy = _row("ip", {"ip": "198.51.100.10"}, 240, 200.0, hist=260)
    ring = _row("ip", {"ip": "91.240.118.7"}, 30, 25.0, hist=None)
    grown = _row("ip", {"ip": "10.9.9.9"}, 90, 60.0, hist=20)
    judged = {k.key["ip"]: k for k in judge([proxy, ring, grown], CONFIG, history_available=True)}
    assert judged["198.51.100.10"].severity == "low"
    assert judged["91.240.118.7"].severity == "high" and judged["91.240.118.7"].new
    assert judged["10.9.9.9"].severity == "high" and judged["10.9.9.9"].ratio == pytest.approx(4.5)
    assert judged["91.240.118.7"].score > judged["198.51.100.10"].score


def test_judge_without_history_says_medium_and_drops_a_superset_adding_nothing():
    device = _row("device_id", {"device_id": "farm"}, 40, 39.0, hist=None)
    pair = _row("device_id+ip", {"device_id": "farm", "ip": "203.0.113.45"}, 40, 39.0, hist=None)
    judged = judge([device, pair], CONFIG, history_available=False)
    assert [(k.combination, k.severity) for k in judged] == [("device_id", "medium")]
