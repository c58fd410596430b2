"""FP-Growth's itemsets equal a hand count; duplicate items in a transaction are counted once."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from anomalies.config import PatternConfig
from anomalies.patterns import (
    Pattern,
    closed_patterns,
    frequent_itemsets,
    handbook_format,
    judge_patterns,
    transactions,
)

# Six requests over (api, ip, user_agent); two miss their user agent.
REQUESTS = [
    ("/login", "1.1.1.1", "curl"),
    ("/login", "1.1.1.1", "curl"),
    ("/login", "1.1.1.1", None),
    ("/depth", "1.1.1.1", "curl"),
    ("/depth", "2.2.2.2", None),
    ("/login", "2.2.2.2", "app"),
]


@pytest.fixture(scope="module")
def itemsets(spark):
    frame = spark.createDataFrame(
        [("d", *r) for r in REQUESTS], "day string, api string, ip string, user_agent string"
    )
    items = transactions(frame, ["api", "ip", "user_agent"])
    rows = frequent_itemsets(items, min_support=0.3).collect()  # at least 2 of 6 requests
    return {frozenset(r["items"]): r["freq"] for r in rows}


def test_itemsets_equal_the_hand_count(itemsets):
    # Counted by hand from REQUESTS: every itemset held by at least two requests.
    assert itemsets == {
        frozenset({"api=/login"}): 4,
        frozenset({"api=/depth"}): 2,
        frozenset({"ip=1.1.1.1"}): 4,
        frozenset({"ip=2.2.2.2"}): 2,
        frozenset({"user_agent=curl"}): 3,
        frozenset({"api=/login", "ip=1.1.1.1"}): 3,
        frozenset({"api=/login", "user_agent=curl"}): 2,
        frozenset({"ip=1.1.1.1", "user_agent=curl"}): 3,
        frozenset({"api=/login", "ip=1.1.1.1", "user_agent=curl"}): 2,
    }


def test_duplicate_items_in_a_transaction_count_once(spark):
    frame = spark.createDataFrame(
        [(["a", "a", "b"],), (["a"],), (["b", "b"],)], "items array<string>"
    ).select(F.array_distinct("items").alias("items"))
    rows = frequent_itemsets(frame, min_support=0.5).collect()
    assert {frozenset(r["items"]): r["freq"] for r in rows} == {
        frozenset({"a"}): 2,
        frozenset({"b"}): 2,
    }


def test_transactions_leave_out_missing_values_and_repeat_no_item(spark):
    frame = spark.createDataFrame(
        [("d", "/x", None, "/x")], "day string, api string, ip string, referer string"
    )
    items = transactions(frame, ["api", "ip", "api", "referer"]).first()["items"]
    assert sorted(items) == ["api=/x", "referer=/x"]


def test_patterns_print_in_the_handbook_format():
    assert (
        handbook_format(["ip=223.88.67.1", "user_agent=Mozilla/5.0"], 7198)
        == "ip-223.88.67.1,,ua-Mozilla/5.0 7198"
    )


def test_closed_patterns_keep_the_largest_pattern_holding_the_same_requests():
    sets = [(["ip=9"], 100), (["cid=x"], 100), (["cid=x", "ip=9"], 100), (["api=/a"], 300)]
    kept = closed_patterns(sets, total=1000)
    assert [(p.items, p.count) for p in kept] == [(("api=/a",), 300), (("cid=x", "ip=9"), 100)]
    assert kept[1].share == pytest.approx(0.1)


def test_a_new_pattern_over_the_threshold_is_high_and_a_stable_one_low():
    config = PatternConfig(("api",), 0.02, 0.10, 2.0, 10)
    new, stable, small = (
        Pattern(("ip=9",), 130, 0.13),
        Pattern(("ua=app",), 400, 0.40),
        Pattern(("ip=1",), 50, 0.05),
    )
    judged = judge_patterns(
        [new, stable, small],
        {new.items: 0.0, stable.items: 0.42, small.items: 0.0},
        config,
        history_available=True,
    )
    assert [(j.pattern.items, j.severity) for j in judged] == [(("ip=9",), "high"), (("ua=app",), "low")]
    assert judged[0].score > judged[1].score
