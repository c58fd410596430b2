"""The decision: trades of the window -> one chart per symbol -> P(hacker) -> risk record.

Plain code that takes its collaborators as arguments: the handler passes the
DynamoDB, SageMaker and S3 adapters; tests pass fakes.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Mapping, Optional, Protocol, Sequence, cast

from scoring.chart import RENDER_VERSION, MissingBarError, render_chart
from scoring.contracts import DETECTOR
from scoring.endpoint import EndpointScore
from scoring.errors import InvalidStoredRecord, MissingMarketData, OverLimit
from scoring.fanout import MAX_WORKERS, fan_out
from scoring.limits import MAX_SYMBOLS_PER_WITHDRAWAL, MAX_TRADES_PER_WINDOW
from scoring.market import BarLike, Trade, WindowTrades
from scoring.reasons import reasons
from scoring.risk import RiskFlag
from scoring.round_trip import named_round_trip_features
from scoring.time_budget import TimeBudget, rounds_of


class TradeSource(Protocol):
    def read_window(self, user_id: str, start: datetime, end: datetime, limit: int) -> WindowTrades: ...


class KlineSource(Protocol):
    def bars_in_window(
        self, symbol: str, start: datetime, end: datetime, fresh: bool = False
    ) -> Sequence[BarLike]: ...

    def windows(self, symbols: Sequence[str], start: datetime, end: datetime) -> Sequence[Sequence[BarLike]]:
        """bars_in_window of each symbol, in the order of `symbols` (in as few requests as it can)."""
        ...


class Predictor(Protocol):
    endpoint_name: str

    def hacker_probability(self, png: bytes) -> float: ...


class FusingPredictor(Predictor, Protocol):
    """An endpoint that may take the round-trip features beside the image (contract 6's variant)."""

    fuses: bool
    detector: str

    def score(self, png: bytes, round_trip: Mapping[str, float]) -> EndpointScore: ...


class FlagRecorder(Protocol):
    def record(self, flag: RiskFlag, images: Mapping[str, bytes]) -> bool: ...


@dataclass(frozen=True)
class Withdrawal:
    user_id: str
    withdrawal_id: str
    requested_at: datetime  # end of the window; the message's SentTimestamp when it names none
    amount: Optional[str] = None
    asset: Optional[str] = None
    message_id: Optional[str] = None


NO_ACTIVITY = "no-activity"
BELOW_THRESHOLD = "below-threshold"
FLAGGED = "flagged"
ALREADY_FLAGGED = "already-flagged"  # a redelivery of a withdrawal whose record exists


@dataclass
class Verdict:
    outcome: str
    trade_count: int = 0
    score: Optional[float] = None
    symbol_scores: dict[str, float] = field(default_factory=dict)
    round_trip: dict[str, dict[str, float]] = field(default_factory=dict)  # symbol -> features
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Stored trades of the window that break contract 2: left out of the picture, counted.
    invalid_trades: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        return self.outcome in (FLAGGED, ALREADY_FLAGGED)


class _Stopwatch:
    """Wall time per stage; a stage whose calls run side by side counts once, not per call."""

    def __init__(self) -> None:
        self.timings_ms: dict[str, float] = defaultdict(float)

    def stage(self, name: str) -> _Stage:
        return _Stage(self.timings_ms, name)


class _Stage:
    def __init__(self, timings: dict[str, float], name: str):
        self._timings, self._name = timings, name

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self._timings[self._name] += (time.perf_counter() - self._start) * 1000


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def score_withdrawal(
    withdrawal: Withdrawal,
    *,
    trades: TradeSource,
    klines: KlineSource,
    predictor: Predictor,
    recorder: FlagRecorder,
    threshold: float,
    window_hours: int,
    clock: Callable[[], datetime] = _utcnow,
    budget: Optional[TimeBudget] = None,
) -> Verdict:
    """Score one withdrawal. Raises a ScoringError subclass when it cannot decide (never "clean").

    With a `budget`, each step (the klines queries, the endpoint calls, the writes) starts only if
    its worst case fits in the invocation's time left, else OutOfTime: nothing is half-written.
    """
    watch = _Stopwatch()
    window_end = withdrawal.requested_at
    window_start = window_end - timedelta(hours=window_hours)

    with watch.stage("query"):
        window = trades.read_window(withdrawal.user_id, window_start, window_end, MAX_TRADES_PER_WINDOW)
    account_trades = window.trades
    if window.truncated or len(account_trades) > MAX_TRADES_PER_WINDOW:
        raise OverLimit(
            f"more than {MAX_TRADES_PER_WINDOW} trades in the window: more than one withdrawal is "
            "scored on; held for review"
        )
    if not account_trades:
        if window.invalid:  # trades there, none drawable: never "no activity"
            raise InvalidStoredRecord(
                f"all {len(window.invalid)} trades of the window break contract 2: {window.invalid[0]}"
            )
        return Verdict(NO_ACTIVITY, timings_ms=dict(watch.timings_ms))

    by_symbol = trades_by_symbol(account_trades)
    symbols = sorted(by_symbol)
    if len(symbols) > MAX_SYMBOLS_PER_WITHDRAWAL:
        raise OverLimit(
            f"{len(symbols)} symbols traded in the window: more than the {MAX_SYMBOLS_PER_WITHDRAWAL} "
            "one withdrawal is scored on; held for review"
        )
    rounds = rounds_of(len(symbols), MAX_WORKERS)
    if budget is not None:
        budget.require("query", rounds)
    with watch.stage("query"):
        bars = klines.windows(symbols, window_start, window_end)
    charted = {
        symbol: _chart(symbol, by_symbol[symbol], symbol_bars, klines, window_start, window_end, watch)
        for symbol, symbol_bars in zip(symbols, bars)
    }
    images = {symbol: png for symbol, (png, _) in charted.items()}
    round_trip = _round_trip(charted, by_symbol, watch)
    fuses = bool(getattr(predictor, "fuses", False))
    if budget is not None:
        budget.require("endpoint", rounds)
    with watch.stage("endpoint"):
        if fuses:
            fusing = cast(FusingPredictor, predictor)
            answers = fan_out(
                lambda symbol: fusing.score(images[symbol], round_trip[symbol]),
                symbols,
            )
        else:
            answers = [
                EndpointScore(p) for p in fan_out(predictor.hacker_probability, [images[s] for s in symbols])
            ]
    symbol_scores = {symbol: answer.probability for symbol, answer in zip(symbols, answers)}
    components = {s: dict(a.components) for s, a in zip(symbols, answers) if a.components is not None}
    score = max(symbol_scores.values())

    verdict = Verdict(
        BELOW_THRESHOLD, len(account_trades), score, symbol_scores, round_trip, invalid_trades=window.invalid
    )
    if score > threshold:  # strictly above: a score exactly at the threshold is not flagged
        flag = RiskFlag(
            user_id=withdrawal.user_id,
            withdrawal_id=withdrawal.withdrawal_id,
            requested_at=window_end,
            scored_at=clock(),
            score=score,
            threshold=threshold,
            symbol_scores=symbol_scores,
            trade_count=len(account_trades),
            window_start=window_start,
            window_end=window_end,
            endpoint=predictor.endpoint_name,
            render_version=RENDER_VERSION,
            amount=withdrawal.amount,
            asset=withdrawal.asset,
            message_id=withdrawal.message_id,
            counterparties=tuple(
                sorted({t.counterparty_user_id for t in account_trades if t.counterparty_user_id})
            ),
            detector=str(getattr(predictor, "detector", DETECTOR)),
            components=components or None,
            round_trip=round_trip,
            reasons=tuple(reasons(round_trip, symbol_scores)),
            invalid_trade_count=len(window.invalid),
        )
        if budget is not None:
            budget.require("write", rounds)
        with watch.stage("write"):
            written = recorder.record(flag, images)
        verdict.outcome = FLAGGED if written else ALREADY_FLAGGED
    verdict.timings_ms = dict(watch.timings_ms)
    return verdict


def _chart(
    symbol: str,
    symbol_trades: Sequence[Trade],
    bars: Sequence[BarLike],
    klines: KlineSource,
    window_start: datetime,
    window_end: datetime,
    watch: _Stopwatch,
) -> tuple[bytes, Sequence[BarLike]]:
    """One symbol's chart and the bars it was drawn from. Bars from a cache that lack a traded bar
    are read again from the table before the market data is called missing: only the table can
    say a kline is not there."""
    problem = ""
    for fresh in (False, True):
        if fresh:
            with watch.stage("query"):
                bars = klines.bars_in_window(symbol, window_start, window_end, fresh=True)
        if not bars:
            problem = (
                f"{symbol}: no 5-minute klines between {window_start.isoformat()} and"
                f" {window_end.isoformat()} although the account traded it {len(symbol_trades)} time(s)"
            )
            continue
        with watch.stage("render"):
            try:
                return render_chart(bars, symbol_trades), bars
            except MissingBarError as error:
                problem = str(error)
    raise MissingMarketData(problem)


def _round_trip(
    charted: Mapping[str, tuple[bytes, Sequence[BarLike]]],
    by_symbol: Mapping[str, Sequence[Trade]],
    watch: _Stopwatch,
) -> dict[str, dict[str, float]]:
    """Each symbol's round-trip features, from the bars its chart was drawn from (so every trade
    has its bar: the chart has checked)."""
    with watch.stage("features"):
        return {
            symbol: named_round_trip_features(bars, by_symbol[symbol])
            for symbol, (_, bars) in charted.items()
        }


def trades_by_symbol(trades: Sequence[Trade]) -> dict[str, list[Trade]]:
    grouped: dict[str, list[Trade]] = defaultdict(list)
    for trade in trades:
        grouped[trade.symbol].append(trade)
    return dict(grouped)
