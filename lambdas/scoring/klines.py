"""Reads of the klines table (contract 3), and a warm process's memory of settled klines."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator

from scoring.contracts import KLINES_TABLE
from scoring.dynamodb_query import query_items
from scoring.errors import InvalidStoredRecord
from scoring.market import BAR_SECONDS, BarRange, Kline, window_bar_range


class KlinesTable:
    def __init__(self, dynamodb: Any, table_name: str):
        self._dynamodb = dynamodb
        self._table = table_name

    def _query(self, symbol: str, first: int, last: int, **extra: Any) -> Iterator[dict[str, Any]]:
        pk, sk = KLINES_TABLE.partition.name, KLINES_TABLE.sort.name
        names = {"#pk": pk, "#sk": sk, **extra.pop("ExpressionAttributeNames", {})}
        return query_items(
            self._dynamodb,
            f"query klines of {symbol}",
            TableName=self._table,
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :lo AND :hi",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                ":pk": {"S": symbol},
                ":lo": {"N": str(first)},
                ":hi": {"N": str(last)},
            },
            **extra,
        )

    def bars_between(self, symbol: str, first: int, last: int) -> list[BarRange]:
        """The symbol's bars with first <= open_time <= last, in time order: only what the chart needs."""
        items = self._query(
            symbol,
            first,
            last,
            ProjectionExpression="#sk, #high, #low",
            ExpressionAttributeNames={"#high": "high", "#low": "low"},
        )
        sk = KLINES_TABLE.sort.name
        try:
            return [
                BarRange(symbol, int(item[sk]), float(item["high"]), float(item["low"])) for item in items
            ]
        except (KeyError, ValueError, TypeError, ArithmeticError) as error:
            raise InvalidStoredRecord(f"a kline of {symbol} breaks contract 3: {error}") from error

    def bars_in_window(
        self, symbol: str, start: datetime, end: datetime, fresh: bool = False
    ) -> list[BarRange]:
        """The symbol's 5-minute bars that overlap [start, end), in time order (always read: `fresh`
        is for the cache below)."""
        return self.bars_between(symbol, *window_bar_range(start, end))

    def klines_in_window(self, symbol: str, start: datetime, end: datetime) -> list[Kline]:
        """The same bars with every attribute (open, close, volume too), for people's charts."""
        try:
            return [Kline.from_item(item) for item in self._query(symbol, *window_bar_range(start, end))]
        except (KeyError, ValueError, TypeError, ArithmeticError) as error:
            raise InvalidStoredRecord(f"a kline of {symbol} breaks contract 3: {error}") from error


@dataclass(frozen=True)
class _Span:
    """A gap-free run of one symbol's settled bars (consecutive open times), as read together."""

    bars: tuple[BarRange, ...]
    read_at: float  # when the oldest of them was read (clock seconds)

    @property
    def first(self) -> int:
        return self.bars[0].open_time

    @property
    def last(self) -> int:
        return self.bars[-1].open_time


class CachedKlines:
    """A warm function's memory of the settled bars it has read, so that a message reads only the
    bars its process has not seen yet.

    A bar is settled `settle_seconds` after it closes (the klines feed is expected to have written
    it by then); bars still open or settling are read from the table on every message. Only a
    gap-free run of bars is held: a bar the table did not have is never remembered as absent, so
    everything from the first gap on (a late kline, or a market's closed hours) is read again by
    the next message. What is held is forgotten after `max_age_seconds`, so a corrected kline
    reaches the charts within that time, and at most `max_bars` bars are held (about 170 bytes
    each), the least recently read symbols going first. Withdrawals of the live day share their
    symbols' bars: after the first, a message reads the last few bars of each symbol instead of
    the window's 288. `fresh=True` reads the whole window from the table (the decision asks for
    it before it blames missing market data). Safe to call from several threads at once.
    """

    def __init__(
        self,
        table: KlinesTable,
        *,
        max_age_seconds: float,
        settle_seconds: int = 300,
        max_bars: int = 150_000,
        clock: Callable[[], float] = time.time,
    ):
        self._table = table
        self._max_age = max_age_seconds
        self._settle = settle_seconds
        self._max_bars = max_bars
        self._clock = clock
        self._spans: dict[str, _Span] = {}
        self._held = 0
        self._lock = threading.Lock()

    def _settled_until(self, now: float) -> int:
        """The open_time of the newest bar that has closed and settled by `now`."""
        horizon = int(now) - self._settle - BAR_SECONDS
        return horizon - horizon % BAR_SECONDS

    def bars_in_window(
        self, symbol: str, start: datetime, end: datetime, fresh: bool = False
    ) -> list[BarRange]:
        first, last = window_bar_range(start, end)
        now = self._clock()
        with self._lock:
            span = None if fresh else self._spans.get(symbol)
        if span is not None and (
            now - span.read_at > self._max_age or not span.first <= first <= span.last + BAR_SECONDS
        ):
            span = None
        if span is None:
            bars = self._table.bars_between(symbol, first, last)
            read_at = now
        else:
            held = [bar for bar in span.bars if first <= bar.open_time <= last]
            newer = (
                self._table.bars_between(symbol, span.last + BAR_SECONDS, last) if last > span.last else []
            )
            bars = held + newer
            read_at = span.read_at
        run = _settled_run(bars, self._settled_until(now))
        with self._lock:
            dropped = self._spans.pop(symbol, None)
            self._held -= len(dropped.bars) if dropped else 0
            if run:
                self._spans[symbol] = _Span(run, read_at)
                self._held += len(run)
            while self._held > self._max_bars and self._spans:  # least recently read first
                oldest = next(iter(self._spans))
                self._held -= len(self._spans.pop(oldest).bars)
        return bars


def _settled_run(bars: list[BarRange], settled_until: int) -> tuple[BarRange, ...]:
    """The bars from the first one on, up to the first gap or the first unsettled bar."""
    run: list[BarRange] = []
    for bar in bars:
        if bar.open_time > settled_until or (run and bar.open_time != run[-1].open_time + BAR_SECONDS):
            break
        run.append(bar)
    return tuple(run)
