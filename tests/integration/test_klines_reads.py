"""The klines reads of a warm function against moto's server (real HTTP): the window once, then
only the bars that had not settled, with the same answer as a fresh read."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from local.resources import put_items
from scoring.klines import CachedKlines, KlinesTable
from scoring.market import bar_open_time
from tests.conftest import FUNCTION_ENV

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 13, 37, 40, tzinfo=timezone.utc)


class CountingTable(KlinesTable):
    def __init__(self, *args):
        super().__init__(*args)
        self.reads: list[tuple[int, int]] = []  # (first open_time asked for, bars answered)
        self.batches: list[dict[str, int]] = []  # symbol -> bars answered, per BatchGetItem

    def bars_between(self, symbol, first, last):
        bars = super().bars_between(symbol, first, last)
        self.reads.append((first, len(bars)))
        return bars

    def bars_at(self, open_times):
        found = super().bars_at(open_times)
        self.batches.append({symbol: len(bars) for symbol, bars in found.items()})
        return found


@pytest.fixture
def table(aws):
    from training.market_data import synthetic_klines

    market = synthetic_klines(("BTC-USD",), NOW, days=2, seed=5)
    put_items(aws["dynamodb"], FUNCTION_ENV["KLINES_TABLE"], (bar.to_item() for bar in market["BTC-USD"]))
    return CountingTable(aws["dynamodb"], FUNCTION_ENV["KLINES_TABLE"])


def test_a_warm_read_asks_only_for_the_unsettled_bars_and_matches_a_fresh_read(aws, table):
    klines = CachedKlines(table, max_age_seconds=600, clock=lambda: NOW.timestamp() + 30)
    start = NOW - timedelta(hours=24)

    first = klines.bars_in_window("BTC-USD", start, NOW)
    again = klines.bars_in_window("BTC-USD", start, NOW)
    fresh = KlinesTable(aws["dynamodb"], FUNCTION_ENV["KLINES_TABLE"]).bars_in_window("BTC-USD", start, NOW)

    assert len(first) == 289 and first == again == fresh
    # 13:38:10 with 300 s to settle: the bars of 13:30 and 13:35 are read again, nothing older.
    settling = bar_open_time(datetime(2026, 11, 20, 13, 30, tzinfo=timezone.utc))
    assert table.reads == [(first[0].open_time, 289), (settling, 2)]


def test_the_newest_bars_of_two_symbols_in_one_batch_match_a_fresh_read(aws):
    from training.market_data import synthetic_klines

    market = synthetic_klines(("BTC-USD", "ETH-USD"), NOW, days=2, seed=6)
    put_items(
        aws["dynamodb"], FUNCTION_ENV["KLINES_TABLE"], (b.to_item() for day in market.values() for b in day)
    )
    table = CountingTable(aws["dynamodb"], FUNCTION_ENV["KLINES_TABLE"])
    klines = CachedKlines(table, max_age_seconds=600, clock=lambda: NOW.timestamp() + 30)
    start = NOW - timedelta(hours=24)
    symbols = ["BTC-USD", "ETH-USD"]

    klines.windows(symbols, start, NOW)
    queries = len(table.reads)
    again = klines.windows(symbols, start, NOW)
    fresh = KlinesTable(aws["dynamodb"], FUNCTION_ENV["KLINES_TABLE"]).windows(symbols, start, NOW)

    assert len(table.reads) == queries == 2  # the second read was one batch of the unsettled bars
    assert table.batches == [{"BTC-USD": 2, "ETH-USD": 2}]
    assert again == fresh and [len(bars) for bars in again] == [289, 289]
