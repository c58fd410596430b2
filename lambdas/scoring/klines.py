"""Reads of the klines table (contract 3), and a warm process's memory of settled klines."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from scoring.clients import raise_translated
from scoring.contracts import KLINES_TABLE
from scoring.dynamodb_query import query_items
from scoring.errors import InvalidStoredRecord, RetryLater
from scoring.fanout import fan_out
from scoring.market import BAR_SECONDS, BarRange, Kline, window_bar_range

# BatchGetItem's own limit on the keys of one request.
MAX_BATCH_KEYS = 100
# A symbol whose held bars lack more than this many newest bars is read by a query instead: a
# query bills for its bars together, a batch per bar (an hour of bars).
MAX_BATCH_BARS_PER_SYMBOL = 12
# Keys DynamoDB left unprocessed (throttling) are asked for again this many times, with backoff.
UNPROCESSED_ATTEMPTS = 3


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

    def bars_at(self, open_times: Mapping[str, Sequence[int]]) -> dict[str, list[BarRange]]:
        """Each symbol's bars at exactly these open times, in time order, in one BatchGetItem (at
        most MAX_BATCH_KEYS keys in all); a bar the table does not have is simply not there."""
        pk, sk = KLINES_TABLE.partition.name, KLINES_TABLE.sort.name
        keys = [{pk: {"S": symbol}, sk: {"N": str(t)}} for symbol, times in open_times.items() for t in times]
        if len(keys) > MAX_BATCH_KEYS:
            raise ValueError(f"{len(keys)} keys: one BatchGetItem takes {MAX_BATCH_KEYS} at most")
        found: dict[str, list[BarRange]] = {symbol: [] for symbol in open_times}
        request: dict[str, Any] = {
            self._table: {
                "Keys": keys,
                "ProjectionExpression": "#pk, #sk, #high, #low",
                "ExpressionAttributeNames": {"#pk": pk, "#sk": sk, "#high": "high", "#low": "low"},
            }
        }
        action = f"read the newest klines of {', '.join(open_times)}"
        for attempt in range(UNPROCESSED_ATTEMPTS + 1):
            if attempt:
                time.sleep(0.05 * 2**attempt)  # unprocessed keys mean throttling: back off first
            try:
                page = self._dynamodb.batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError) as error:
                raise_translated(error, action)
            try:
                for item in page.get("Responses", {}).get(self._table, []):
                    symbol = item[pk]["S"]
                    bar = BarRange(
                        symbol, int(item[sk]["N"]), float(item["high"]["N"]), float(item["low"]["N"])
                    )
                    found[symbol].append(bar)
            except (KeyError, ValueError, TypeError, ArithmeticError) as error:
                raise InvalidStoredRecord(f"a kline breaks contract 3: {error!r}") from error
            request = page.get("UnprocessedKeys") or {}
            if not request:
                return {symbol: sorted(bars, key=_open_time) for symbol, bars in found.items()}
        raise RetryLater(f"{action}: keys still unprocessed after {UNPROCESSED_ATTEMPTS} more tries")

    def bars_in_window(
        self, symbol: str, start: datetime, end: datetime, fresh: bool = False
    ) -> list[BarRange]:
        """The symbol's 5-minute bars that overlap [start, end), in time order (always read: `fresh`
        is for the cache below)."""
        return self.bars_between(symbol, *window_bar_range(start, end))

    def windows(self, symbols: Sequence[str], start: datetime, end: datetime) -> list[list[BarRange]]:
        """bars_in_window of each symbol, the queries side by side."""
        return fan_out(lambda symbol: self.bars_in_window(symbol, start, end), symbols)

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

    def _held_span(self, symbol: str, first: int, now: float, fresh: bool) -> Optional[_Span]:
        """The symbol's held bars if they may start this window's answer (None: read it all)."""
        with self._lock:
            span = None if fresh else self._spans.get(symbol)
        if span is None or now - span.read_at > self._max_age:
            return None
        return span if span.first <= first <= span.last + BAR_SECONDS else None

    def _remember(self, symbol: str, bars: list[BarRange], read_at: float, now: float, held: int = 0) -> None:
        """Hold the settled run that `bars` start with; its first `held` bars came from a held run."""
        run = _settled_run(bars, self._settled_until(now), held)
        with self._lock:
            dropped = self._spans.pop(symbol, None)
            self._held -= len(dropped.bars) if dropped else 0
            if run:
                self._spans[symbol] = _Span(run, read_at)
                self._held += len(run)
            while self._held > self._max_bars and self._spans:  # least recently read first
                oldest = next(iter(self._spans))
                self._held -= len(self._spans.pop(oldest).bars)

    def bars_in_window(
        self, symbol: str, start: datetime, end: datetime, fresh: bool = False
    ) -> list[BarRange]:
        first, last = window_bar_range(start, end)
        now = self._clock()
        span = self._held_span(symbol, first, now, fresh)
        kept: list[BarRange] = []
        if span is None:
            bars, read_at = self._table.bars_between(symbol, first, last), now
        else:
            newer = (
                self._table.bars_between(symbol, span.last + BAR_SECONDS, last) if last > span.last else []
            )
            kept = _held_in(span, first, last)
            bars, read_at = kept + newer, span.read_at
        self._remember(symbol, bars, read_at, now, len(kept))
        return bars

    def windows(self, symbols: Sequence[str], start: datetime, end: datetime) -> list[list[BarRange]]:
        """bars_in_window of each symbol. The newest bars of the symbols whose older ones are held
        come in one BatchGetItem (their open times are known: every bar after the held ones up to
        the window's last), the others' windows in queries beside it: one request, not one per
        symbol, for a warm function's usual message."""
        first, last = window_bar_range(start, end)
        now = self._clock()
        spans = {symbol: self._held_span(symbol, first, now, False) for symbol in symbols}
        newest: dict[str, list[int]] = {}
        for symbol, span in spans.items():
            if span is not None and last > span.last:
                times = list(range(span.last + BAR_SECONDS, last + 1, BAR_SECONDS))
                fits = sum(map(len, newest.values())) + len(times) <= MAX_BATCH_KEYS
                if len(times) <= MAX_BATCH_BARS_PER_SYMBOL and fits:
                    newest[symbol] = times
        queried = [s for s, span in spans.items() if s not in newest and (span is None or last > span.last)]

        def read(task: Optional[str]) -> dict[str, list[BarRange]]:
            if task is None:
                return self._table.bars_at(newest)
            span = spans[task]
            if span is None:
                return {task: self._table.bars_between(task, first, last)}
            return {task: self._table.bars_between(task, span.last + BAR_SECONDS, last)}

        tasks: list[Optional[str]] = ([None] if newest else []) + queried
        read_now: dict[str, list[BarRange]] = {}
        for answer in fan_out(read, tasks):
            read_now.update(answer)
        results = []
        for symbol in symbols:
            span = spans[symbol]
            kept = _held_in(span, first, last) if span else []
            bars = kept + read_now.get(symbol, [])
            self._remember(symbol, bars, span.read_at if span else now, now, len(kept))
            results.append(bars)
        return results


def _open_time(bar: BarRange) -> int:
    return bar.open_time


def _held_in(span: _Span, first: int, last: int) -> list[BarRange]:
    """The held bars with first <= open_time <= last: a gap-free run, so a slice by position."""
    return list(
        span.bars[max(0, (first - span.first) // BAR_SECONDS) : (last - span.first) // BAR_SECONDS + 1]
    )


def _settled_run(bars: list[BarRange], settled_until: int, known: int = 0) -> tuple[BarRange, ...]:
    """The bars from the first one on, up to the first gap or the first unsettled bar; the first
    `known` are such a run already (held bars stay settled)."""
    end = known
    for bar in bars[known:]:
        if bar.open_time > settled_until or (end and bar.open_time != bars[end - 1].open_time + BAR_SECONDS):
            break
        end += 1
    return tuple(bars[:end])
