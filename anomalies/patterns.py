"""Frequent patterns: each request is a transaction of `dimension=value` items; Spark ML FPGrowth.

A pattern is printed in the handbook's format (`ip-223.88.67,,ua-Mozilla/5.0 ... 7198`). Only
closed patterns are reported: a pattern is dropped when a larger one holds (almost) all its
requests, so a scraper's client id, IP and API come out as one pattern rather than seven.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

from pyspark import StorageLevel
from pyspark.ml.fpm import FPGrowth
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from anomalies.config import PatternConfig

SEPARATOR = "="
# Short names the handbook prints items with.
ALIASES = {"user_agent": "ua", "client_id": "cid", "referer": "ref", "device_id": "dev", "user_id": "uid"}
CLOSED_TOLERANCE = 0.98


def transactions(requests: DataFrame, dimensions: Sequence[str]) -> DataFrame:
    """(day, items): `dimension=value` for each present field; items unique within a transaction."""
    items = F.array(
        *(F.when(F.col(d).isNotNull(), F.concat(F.lit(f"{d}{SEPARATOR}"), F.col(d))) for d in dimensions)
    )
    return requests.select("day", F.array_distinct(F.array_compact(items)).alias("items"))


def frequent_itemsets(items: DataFrame, min_support: float) -> DataFrame:
    """(items, freq) from FPGrowth; `items` must hold unique values per row (FPGrowth requires it).

    The transactions are cached for the mining's passes (it counts them, counts the items, then
    builds its trees), and the trees are grown in as many partitions as there are cores.
    """
    cores = items.sparkSession.sparkContext.defaultParallelism
    cached = items.where(F.size("items") > 0).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        fpgrowth = FPGrowth(itemsCol="items", minSupport=min_support, minConfidence=1.0, numPartitions=cores)
        itemsets = fpgrowth.fit(cached).freqItemsets.localCheckpoint()
    finally:
        cached.unpersist()
    return itemsets


def split_item(item: str) -> tuple[str, str]:
    dim, _, value = item.partition(SEPARATOR)
    return dim, value


def handbook_format(items: Sequence[str], count: int) -> str:
    shown = []
    for item in items:
        dim, value = split_item(item)
        shown.append(f"{ALIASES.get(dim, dim)}-{value}")
    return ",,".join(shown) + f" {count}"


@dataclass(frozen=True)
class Pattern:
    items: tuple[str, ...]
    count: int
    share: float

    @property
    def key(self) -> dict[str, str]:
        return dict(split_item(i) for i in self.items)

    def printed(self) -> str:
        return handbook_format(self.items, self.count)


def closed_patterns(itemsets: Sequence[tuple[Sequence[str], int]], total: int) -> list[Pattern]:
    """Largest count first; a pattern goes when a strict superset holds >= 98% of its requests."""
    sets = [(frozenset(items), int(freq)) for items, freq in itemsets]
    kept = []
    for items, freq in sets:
        if any(items < other and ofreq >= CLOSED_TOLERANCE * freq for other, ofreq in sets):
            continue
        kept.append(Pattern(tuple(sorted(items)), freq, freq / total if total else 0.0))
    kept.sort(key=lambda p: (-p.count, p.items))
    return kept


def pattern_condition(pattern_key: Mapping[str, str]) -> Column:
    cond = F.lit(True)
    for dim, value in pattern_key.items():
        cond = cond & (F.col(dim) == value)
    return cond


def history_shares(
    requests: DataFrame, day: str, patterns: Sequence[Pattern]
) -> dict[tuple[str, ...], float]:
    """Each pattern's largest share on any history day (0 when it never reached it); one pass."""
    if not patterns:
        return {}
    past = requests.where(F.col("day") != day)
    aggs = [F.count(F.lit(1)).alias("total")] + [
        F.sum(F.when(pattern_condition(p.key), 1).otherwise(0)).alias(f"p{i}") for i, p in enumerate(patterns)
    ]
    rows = past.groupBy("day").agg(*aggs).collect()
    out = {}
    for i, p in enumerate(patterns):
        out[p.items] = max((r[f"p{i}"] / r["total"] for r in rows if r["total"]), default=0.0)
    return out


@dataclass(frozen=True)
class JudgedPattern:
    pattern: Pattern
    history_share: Optional[float]
    severity: str
    score: float


def judge_patterns(
    patterns: Sequence[Pattern],
    history: Mapping[tuple[str, ...], float],
    config: PatternConfig,
    *,
    history_available: bool,
) -> list[JudgedPattern]:
    """Patterns over the share threshold: high when new or grown growth_factor times against the
    largest history share, medium without history, low when it is always this large."""
    judged = []
    for p in patterns:
        if p.share < config.share_threshold:
            continue
        past = history.get(p.items) if history_available else None
        base = p.share / config.share_threshold
        if past is None:
            severity, score = "medium", base
        elif past == 0 or p.share >= config.growth_factor * past:
            ratio = 10.0 if past == 0 else min(p.share / past, 10.0)
            severity, score = "high", base * ratio
        else:
            severity, score = "low", base * p.share / past / 10
        judged.append(JudgedPattern(p, past, severity, round(score, 3)))
    return judged
