"""The klines reads of a warm function against moto's server (real HTTP): a query for the window,
then only the newest bars by key (BatchGetItem), with the same answer as a fresh read."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chartguard.local_resources import put_items
from scoring.trades import CachedKlines, KlinesTable
from tests.conftest import FUNCTION_ENV

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 13, 37, 40, tzinfo=timezone.utc)


class CountingTable(KlinesTable):
    def __init__(self, *args):
        super().__init__(*args)
        self.calls: list[tuple[str, int]] = []

    def bars_between(self, symbol, first, last):
        bars = super().bars_between(symbol, first, last)
        self.calls.append(("query", len(bars)))
        return bars

    def bars_at(self, symbol, open_times):
        bars = super().bars_at(symbol, open_times)
        self.calls.append(("by key", len(bars)))
        return bars


def test_a_warm_read_gets_the_newest_bars_by_key_and_matches_a_fresh_read(aws):
    from training.market_data import synthetic_klines

    market = synthetic_klines(("BTC-USD",), NOW, days=2, seed=5)
    put_items(aws["dynamodb"], FUNCTION_ENV["KLINES_TABLE"], (bar.to_item() for bar in market["BTC-USD"]))
    table = CountingTable(aws["dynamodb"], FUNCTION_ENV["KLINES_TABLE"])
    clock_now = NOW.timestamp()
    klines = CachedKlines(table, max_age_seconds=600, clock=lambda: clock_now)
    start = NOW - timedelta(hours=24)

    first = klines.bars_in_window("BTC-USD", start, NOW)
    clock_now += 30  # the next withdrawal, half a minute later
    again = klines.bars_in_window("BTC-USD", start, NOW)
    fresh = KlinesTable(aws["dynamodb"], FUNCTION_ENV["KLINES_TABLE"]).bars_in_window("BTC-USD", start, NOW)

    assert len(first) == 289 and first == again == fresh
    # 13:37:40 with 300 s to settle: the bars of 13:30 and 13:35 are read again, by key.
    assert table.calls == [("query", 289), ("by key", 2)]


def test_a_bar_the_table_lacks_is_left_out_of_a_read_by_key_and_appears_once_written(aws):
    from training.market_data import synthetic_klines

    market = synthetic_klines(("BTC-USD",), NOW, days=2, seed=5)
    put_items(aws["dynamodb"], FUNCTION_ENV["KLINES_TABLE"], (bar.to_item() for bar in market["BTC-USD"]))
    table = CountingTable(aws["dynamodb"], FUNCTION_ENV["KLINES_TABLE"])
    klines = CachedKlines(table, max_age_seconds=600, clock=lambda: NOW.timestamp())
    start = NOW - timedelta(hours=24)
    klines.bars_in_window("BTC-USD", start, NOW)

    settling = int(datetime(2026, 11, 20, 13, 30, tzinfo=timezone.utc).timestamp())
    key = {"symbol": {"S": "BTC-USD"}, "open_time": {"N": str(settling)}}
    late = aws["dynamodb"].get_item(TableName=FUNCTION_ENV["KLINES_TABLE"], Key=key)["Item"]
    aws["dynamodb"].delete_item(TableName=FUNCTION_ENV["KLINES_TABLE"], Key=key)
    without = klines.bars_in_window("BTC-USD", start, NOW)
    assert settling not in [bar.open_time for bar in without] and len(without) == 288

    aws["dynamodb"].put_item(TableName=FUNCTION_ENV["KLINES_TABLE"], Item=late)  # the kline arrives
    again = klines.bars_in_window("BTC-USD", start, NOW)
    assert settling in [bar.open_time for bar in again] and len(again) == 289
    assert table.calls == [("query", 289), ("by key", 1), ("by key", 2)]
