"""Key schemas and constants of the public contracts (docs/design.md, contracts 2-6).

Written once here and read by the function, the CDK constructs (infra/) and the local stack, so
a table's keys or the risk table's index are never spelled twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AttributeType = Literal["S", "N"]


@dataclass(frozen=True)
class Key:
    name: str
    type: AttributeType


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition: Key
    sort: Key


@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table's keys and global secondary indexes, independent of who creates it."""

    logical_name: str
    partition: Key
    sort: Key
    indexes: tuple[IndexSpec, ...] = field(default_factory=tuple)


TRADES_TABLE = TableSpec("Trades", Key("user_id", "S"), Key("trade_key", "S"))
KLINES_TABLE = TableSpec("Klines", Key("symbol", "S"), Key("open_time", "N"))
RISK_BY_DAY_INDEX = IndexSpec("by-day", Key("day", "S"), Key("score", "N"))
RISK_TABLE = TableSpec("Risk", Key("user_id", "S"), Key("event_key", "S"), (RISK_BY_DAY_INDEX,))
ALL_TABLES = (TRADES_TABLE, KLINES_TABLE, RISK_TABLE)
# A risk record's end of life (epoch seconds, DynamoDB TTL): when its evidence images expire.
RISK_EXPIRES_AT = "expires_at"

# Contract 6: the endpoint answers class probabilities in im2rec's alphabetical label order.
CLASS_ORDER = ("hacker", "normal")
HACKER_CLASS_INDEX = CLASS_ORDER.index("hacker")

DETECTOR = "chart-classifier"
FUSED_DETECTOR = "chart+round-trip"  # an endpoint whose artifact also carries the round-trip model
DEFAULT_RISK_THRESHOLD = 0.90
DEFAULT_WINDOW_HOURS = 24
# Not in the design's contract 7 list: an optional addition (a warm function's klines memory).
DEFAULT_KLINES_CACHE_SECONDS = 600
