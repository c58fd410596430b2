"""In-process fakes of the decision's collaborators (unit tests only)."""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Mapping, Optional, Sequence

from scoring.errors import ScoringError
from scoring.market import Kline, Trade, WindowTrades, window_bar_range
from scoring.risk import RiskFlag


class FakeTrades:
    def __init__(self, trades: list[Trade]):
        self._trades = trades
        self.windows: list[tuple[str, datetime, datetime]] = []

    def trades_in_window(self, user_id: str, start: datetime, end: datetime) -> list[Trade]:
        self.windows.append((user_id, start, end))
        return [t for t in self._trades if t.user_id == user_id and start <= t.traded_at < end]

    def read_window(self, user_id: str, start: datetime, end: datetime, limit: int) -> WindowTrades:
        trades = self.trades_in_window(user_id, start, end)
        return WindowTrades(trades[:limit], tuple(self.invalid), truncated=len(trades) > limit)

    invalid: tuple[str, ...] = ()


class FakeKlines:
    def __init__(self, bars: Mapping[str, list[Kline]]):
        self._bars = bars
        self.reads: list[tuple[str, bool]] = []

    def bars_in_window(self, symbol: str, start: datetime, end: datetime, fresh: bool = False) -> list[Kline]:
        self.reads.append((symbol, fresh))
        first, last = window_bar_range(start, end)
        return [b for b in self._bars.get(symbol, []) if first <= b.open_time <= last]

    def windows(self, symbols: Sequence[str], start: datetime, end: datetime) -> list[list[Kline]]:
        return [self.bars_in_window(symbol, start, end) for symbol in symbols]


class FakePredictor:
    """Answers P(hacker) with a function of the PNG bytes; records every image it was sent."""

    endpoint_name = "fake-endpoint"

    def __init__(self, score: Callable[[bytes], float], fail: Optional[ScoringError] = None):
        self._score = score
        self._fail = fail
        self.images: list[bytes] = []

    def hacker_probability(self, png: bytes) -> float:
        self.images.append(png)
        if self._fail is not None:
            raise self._fail
        return self._score(png)


class FakeRecorder:
    """Keeps flags by their deterministic key, like the conditional put does."""

    def __init__(self) -> None:
        self.flags: dict[tuple[str, str], RiskFlag] = {}
        self.images: dict[tuple[str, str], dict[str, bytes]] = {}

    def record(self, flag: RiskFlag, images: Mapping[str, bytes]) -> bool:
        key = (flag.user_id, flag.event_key)
        if key in self.flags:
            return False
        self.flags[key] = flag
        self.images[key] = dict(images)
        return True
