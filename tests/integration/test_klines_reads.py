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

    def bars_between(self, symbol, first, last):
        bars = super().bars_between(symbol, first, last)
        self.reads.append((first, len(bars)))
        return bars


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
