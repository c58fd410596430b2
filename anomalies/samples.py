"""Sample accounts for the aggregate and pattern findings: up to 20 per finding, sorted.

They are read from the smallest frame that holds each finding's key with the user id: the
monitor's grain rows for aggregate findings, the day's requests for patterns.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from anomalies.findings import Finding

SAMPLE_USERS = 20
# Joins a key's values into one map key; no request field holds this control character.
KEY_SEPARATOR = "\u0001"


def with_sample_users(grain: DataFrame, today: DataFrame, found: Sequence[Finding]) -> list[Finding]:
    """Up to 20 accounts per aggregate or pattern finding.

    An aggregate finding's key is a monitor combination, so its accounts come from the day's
    grain rows (which carry user_id); a pattern's key may hold any request field, so patterns
    are matched against the day's requests. One pass over each.
    """
    users: dict[str, list[str]] = {}
    for frame, kind in ((grain, "aggregate"), (today, "pattern")):
        keyed = [f for f in found if f.kind == kind]
        if keyed:
            users.update(_sample_users(frame, keyed))
    return [
        Finding(**{**f.to_json(), "sample_users": users.get(f.finding_id, [])})
        if f.kind in ("aggregate", "pattern")
        else f
        for f in found
    ]


def _sample_users(frame: DataFrame, keyed: Sequence[Finding]) -> dict[str, list[str]]:
    """finding_id -> the first accounts (sorted) of the rows matching the finding's key.

    Findings are grouped by the fields their keys name; per group, a row's values of those
    fields are looked up in a map of the group's keys, so a row costs one lookup per group
    rather than one comparison per finding.
    """
    groups: dict[tuple[str, ...], dict[str, str]] = {}
    for f in keyed:
        dims = tuple(sorted(f.key))
        groups.setdefault(dims, {})[KEY_SEPARATOR.join(f.key[d] for d in dims)] = f.finding_id
    candidates: list[Column] = []
    for dims, ids in groups.items():
        lookup = F.create_map(*(F.lit(x) for pair in sorted(ids.items()) for x in pair))
        present = reduce(lambda a, b: a & b, (F.col(d).isNotNull() for d in dims))
        candidates.append(F.when(present, F.try_element_at(lookup, F.concat_ws(KEY_SEPARATOR, *dims))))
    matched = frame.where(F.col("user_id").isNotNull()).select(
        "user_id", F.explode(F.array_compact(F.array(*candidates))).alias("finding_id")
    )
    samples = matched.groupBy("finding_id").agg(
        F.slice(F.array_sort(F.collect_set("user_id")), 1, SAMPLE_USERS).alias("users")
    )
    return {r["finding_id"]: list(r["users"]) for r in samples.collect()}
