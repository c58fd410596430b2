"""A warm function's memory of settled klines (scoring.trades.CachedKlines) and the decision's
refusal to let it invent missing market data."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from scoring.decision import Verdict, Withdrawal, score_withdrawal
from scoring.errors import MissingMarketData
from scoring.fanout import fan_out
from scoring.klines import MAX_BATCH_BARS_PER_SYMBOL, CachedKlines
from scoring.market import BAR_SECONDS, BarRange, Trade, window_bar_range
from tests.unit.fakes import FakePredictor, FakeRecorder, FakeTrades

NOW = datetime(2026, 11, 20, 12, 0, 40, tzinfo=timezone.utc)  # 40 s into the 12:00 bar
SETTLE = 300


class TableSpy:
    """Stands in for KlinesTable.bars_between; records every range it is asked for."""

    def __init__(self, open_times: list[int], symbol: str = "BTC-USD"):
        self.symbol = symbol
        self.bars = {t: BarRange(symbol, t, 101.0, 99.0) for t in open_times}
        self.reads: list[tuple[int, int]] = []
        self.batches: list[dict[str, list[int]]] = []  # the open times of each KlinesTable.bars_at

    def bars_between(self, symbol: str, first: int, last: int) -> list[BarRange]:
        self.reads.append((first, last))
        return [self.bars[t] for t in sorted(self.bars) if first <= t <= last]

    def bars_at(self, open_times: dict[str, list[int]]) -> dict[str, list[BarRange]]:
        self.batches.append({symbol: list(times) for symbol, times in open_times.items()})
        return {
            symbol: [BarRange(symbol, t, 101.0, 99.0) for t in sorted(times) if t in self.bars]
            for symbol, times in open_times.items()
        }


def day_of_bars(end: datetime, extra_bars: int = 0) -> list[int]:
    first, last = window_bar_range(end - timedelta(hours=24), end)
    return list(range(first, last + 1 + extra_bars * BAR_SECONDS, BAR_SECONDS))


class Clock:
    def __init__(self, moment: datetime):
        self.now = moment.timestamp()

    def __call__(self) -> float:
        return self.now


def score_one(trade: Trade, klines: object) -> Verdict:
    """One withdrawal of the trade's account at NOW, scored low by a fake endpoint."""
    return score_withdrawal(
        Withdrawal(trade.user_id, "w-1", NOW),
        trades=FakeTrades([trade]),
        klines=klines,  # type: ignore[arg-type]
        predictor=FakePredictor(lambda png: 0.2),
        recorder=FakeRecorder(),
        threshold=0.9,
        window_hours=24,
    )


def cached(table: TableSpy, clock: Clock, max_age: float = 600) -> CachedKlines:
    return CachedKlines(table, max_age_seconds=max_age, settle_seconds=SETTLE, clock=clock)  # type: ignore[arg-type]


def test_a_second_message_reads_only_the_bars_that_had_not_settled():
    table, clock = TableSpy(day_of_bars(NOW)), Clock(NOW)
    klines = cached(table, clock)
    start = NOW - timedelta(hours=24)
    first_read = klines.bars_in_window("BTC-USD", start, NOW)
    again = klines.bars_in_window("BTC-USD", start, NOW)

    first, last = window_bar_range(start, NOW)
    # At 12:00:40 with 300 s to settle, the 11:50 bar (closed 11:55) is the newest settled one.
    settled = int(datetime(2026, 11, 20, 11, 50, tzinfo=timezone.utc).timestamp())
    assert table.reads == [(first, last), (settled + BAR_SECONDS, last)]
    assert again == first_read and len(again) == 289  # 24 h from 12:00:40 overlaps 289 bars


def test_a_late_kline_is_read_by_the_next_message_even_where_nobody_traded():
    """A bar missing when the window was read is never remembered as absent."""
    start = NOW - timedelta(hours=24)
    first, _ = window_bar_range(start, NOW)
    late = first + 100 * BAR_SECONDS
    table, clock = TableSpy([t for t in day_of_bars(NOW) if t != late]), Clock(NOW)
    klines = cached(table, clock)
    assert len(klines.bars_in_window("BTC-USD", start, NOW)) == 288
    table.bars[late] = BarRange("BTC-USD", late, 101.0, 99.0)
    bars = klines.bars_in_window("BTC-USD", start, NOW)
    assert len(bars) == 289 and [b.open_time for b in bars] == sorted(b.open_time for b in bars)
    assert table.reads[-1][0] == late  # held up to the gap, read again from it


def test_an_empty_read_holds_nothing():
    table, clock = TableSpy([]), Clock(NOW)
    klines = cached(table, clock)
    start = NOW - timedelta(hours=24)
    assert klines.bars_in_window("BTC-USD", start, NOW) == []
    klines.bars_in_window("BTC-USD", start, NOW)
    assert table.reads == [window_bar_range(start, NOW)] * 2


def test_live_traffic_reads_the_new_bars_as_the_window_moves():
    table, clock = TableSpy(day_of_bars(NOW, extra_bars=3)), Clock(NOW)
    klines = cached(table, clock)
    klines.bars_in_window("BTC-USD", NOW - timedelta(hours=24), NOW)
    later = NOW + timedelta(minutes=10)
    clock.now = later.timestamp()
    bars = klines.bars_in_window("BTC-USD", later - timedelta(hours=24), later)

    first, last = window_bar_range(later - timedelta(hours=24), later)
    assert [b.open_time for b in bars] == list(range(first, last + 1, BAR_SECONDS))
    assert len(table.reads) == 2 and table.reads[1][1] == last
    assert last - table.reads[1][0] < 6 * BAR_SECONDS  # a handful of bars, not the day


def test_bars_that_are_still_open_are_read_again_with_their_new_range():
    table, clock = TableSpy(day_of_bars(NOW)), Clock(NOW)
    klines = cached(table, clock)
    start = NOW - timedelta(hours=24)
    klines.bars_in_window("BTC-USD", start, NOW)
    _, last = window_bar_range(start, NOW)
    table.bars[last] = BarRange("BTC-USD", last, 130.0, 70.0)  # the live bar widened
    assert klines.bars_in_window("BTC-USD", start, NOW)[-1].high == 130.0


def test_what_is_held_is_forgotten_after_max_age():
    table, clock = TableSpy(day_of_bars(NOW)), Clock(NOW)
    klines = cached(table, clock, max_age=600)
    start = NOW - timedelta(hours=24)
    klines.bars_in_window("BTC-USD", start, NOW)
    clock.now += 601
    klines.bars_in_window("BTC-USD", start, NOW)
    assert table.reads[-1] == window_bar_range(start, NOW)


def test_an_older_window_and_fresh_reads_go_to_the_table():
    table, clock = TableSpy(day_of_bars(NOW)), Clock(NOW)
    klines = cached(table, clock)
    start = NOW - timedelta(hours=24)
    klines.bars_in_window("BTC-USD", start, NOW)
    earlier = NOW - timedelta(hours=1)
    klines.bars_in_window("BTC-USD", earlier - timedelta(hours=24), earlier)  # e.g. a redelivery
    assert table.reads[-1] == window_bar_range(earlier - timedelta(hours=24), earlier)
    klines.bars_in_window("BTC-USD", start, NOW, fresh=True)
    assert table.reads[-1] == window_bar_range(start, NOW)


def test_a_late_kline_is_charted_not_blamed_on_the_cache():
    """The cache read the day while one settled bar was missing; the bar arrived later and the
    account traded in it: it is charted, and without it the data is missing, never "clean"."""
    start = NOW - timedelta(hours=24)
    first, _ = window_bar_range(start, NOW)
    late = first + 100 * BAR_SECONDS
    table, clock = TableSpy([t for t in day_of_bars(NOW) if t != late]), Clock(NOW)
    klines = cached(table, clock)
    klines.bars_in_window("BTC-USD", start, NOW)  # an earlier message charted the day without it
    table.bars[late] = BarRange("BTC-USD", late, 101.0, 99.0)
    at = datetime.fromtimestamp(late + 10, tz=timezone.utc)
    trade = Trade("u-1", "t-1", "BTC-USD", "BUY", 100.0, 1.0, at)

    assert score_one(trade, klines).outcome == "below-threshold"
    assert table.reads[-1][0] == late  # read again from the gap on

    del table.bars[late]  # and when the table lacks it too, the data is missing, never "clean"
    with pytest.raises(MissingMarketData, match="no kline for the bar"):
        score_one(trade, cached(table, clock))


class StaleSource:
    """A klines source whose remembered answer lacks a bar that a fresh read has."""

    def __init__(self, bars: list[BarRange], missing: int):
        self.bars, self.missing, self.reads = bars, missing, []

    def bars_in_window(self, symbol, start, end, fresh=False):
        self.reads.append(fresh)
        return [b for b in self.bars if fresh or b.open_time != self.missing]

    def windows(self, symbols, start, end):
        return [self.bars_in_window(symbol, start, end) for symbol in symbols]


def test_the_decision_reads_fresh_before_it_calls_market_data_missing():
    bars = [BarRange("BTC-USD", t, 101.0, 99.0) for t in day_of_bars(NOW)]
    missing = bars[50].open_time
    source = StaleSource(bars, missing)
    trade = Trade(
        "u-1", "t-1", "BTC-USD", "SELL", 100.0, 1.0, datetime.fromtimestamp(missing + 5, tz=timezone.utc)
    )
    assert score_one(trade, source).outcome == "below-threshold" and source.reads == [False, True]


def test_the_least_recently_read_symbols_are_dropped_beyond_the_bound():
    table, clock = TableSpy(day_of_bars(NOW)), Clock(NOW)
    held_per_symbol = 287  # 289 bars in the window, the last two not settled
    klines = CachedKlines(
        table,  # type: ignore[arg-type]
        max_age_seconds=600,
        settle_seconds=SETTLE,
        max_bars=2 * held_per_symbol,
        clock=clock,
    )
    start = NOW - timedelta(hours=24)
    for symbol in ("A", "B", "A", "C"):
        klines.bars_in_window(symbol, start, NOW)
    reads = len(table.reads)
    klines.bars_in_window("A", start, NOW)  # still held: only the unsettled tail
    klines.bars_in_window("B", start, NOW)  # dropped when C came: the whole window
    assert table.reads[reads][0] > table.reads[0][0]
    assert table.reads[reads + 1] == window_bar_range(start, NOW)


def test_symbols_read_side_by_side_are_held_consistently():
    table, clock = TableSpy(day_of_bars(NOW)), Clock(NOW)
    klines = CachedKlines(table, max_age_seconds=600, settle_seconds=SETTLE, max_bars=287 * 3, clock=clock)  # type: ignore[arg-type]
    start = NOW - timedelta(hours=24)
    symbols = [f"S{n}" for n in range(12)]
    results = fan_out(lambda symbol: klines.bars_in_window(symbol, start, NOW), symbols * 3)
    assert all(len(bars) == 289 for bars in results)
    assert klines._held == sum(len(span.bars) for span in klines._spans.values()) <= 287 * 3


def test_a_warm_message_reads_the_newest_bars_of_all_its_symbols_in_one_request():
    table, clock = TableSpy(day_of_bars(NOW)), Clock(NOW)
    klines = cached(table, clock)
    start = NOW - timedelta(hours=24)
    first_read = klines.windows(["BTC-USD", "ETH-USD"], start, NOW)  # cold: a query per symbol
    assert len(table.reads) == 2 and table.batches == []

    again = klines.windows(["BTC-USD", "ETH-USD"], start, NOW)
    _, last = window_bar_range(start, NOW)
    unsettled = [last - BAR_SECONDS, last]  # 11:55 and 12:00 have not settled at 12:00:40
    assert len(table.reads) == 2 and table.batches == [{"BTC-USD": unsettled, "ETH-USD": unsettled}]
    assert [[b.open_time for b in bars] for bars in again] == [
        [b.open_time for b in bars] for bars in first_read
    ]
    assert [bars[-1].symbol for bars in again] == ["BTC-USD", "ETH-USD"]


def test_a_symbol_held_too_long_ago_for_a_batch_is_queried_beside_it():
    table, clock = TableSpy(day_of_bars(NOW, extra_bars=MAX_BATCH_BARS_PER_SYMBOL + 2)), Clock(NOW)
    klines = cached(table, clock, max_age=3600)
    start = NOW - timedelta(hours=24)
    klines.windows(["BTC-USD"], start, NOW)
    later = NOW + timedelta(minutes=5 * (MAX_BATCH_BARS_PER_SYMBOL + 1))
    clock.now = later.timestamp()
    klines.windows(["ETH-USD"], later - timedelta(hours=24), later)  # held, a few bars old
    clock.now += 1
    reads = len(table.reads)
    bars = klines.windows(["BTC-USD", "ETH-USD"], later - timedelta(hours=24), later)

    first, last = window_bar_range(later - timedelta(hours=24), later)
    assert (
        [b.open_time for b in bars[0]]
        == [b.open_time for b in bars[1]]
        == list(range(first, last + 1, BAR_SECONDS))
    )
    assert list(table.batches[-1]) == ["ETH-USD"]  # BTC-USD lacks more than a batch takes per symbol
    assert (
        len(table.reads) == reads + 1 and last - table.reads[-1][0] > MAX_BATCH_BARS_PER_SYMBOL * BAR_SECONDS
    )
