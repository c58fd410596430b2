"""5-minute klines for training and demos (contract 3): synthetic, from CSV, or from Alpha Vantage.

Three sources, one output: `dict[symbol, list[Kline]]` (or one list), bars in open_time order,
loadable into the klines table with `Kline.to_item()`.

- `synthetic_klines`: seeded random markets with volatility regimes (calm, ordinary and volatile
  days) and bursts, so some days hold many bars above 5% amplitude and calm days none. Crypto
  trades 24 h (288 bars a day); stocks trade a 6.5 h session on weekdays (78 bars) with gaps.
- `load_csv`: a CSV file with the columns of `CSV_COLUMNS`.
- `AlphaVantageClient`: the intraday API the seed used (`TIME_SERIES_INTRADAY`, 5min). The key
  comes from the environment or Secrets Manager and never appears in a log line or an error.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Optional, Sequence, Union

import numpy as np

from scoring.market import BAR_SECONDS, Kline, parse_utc

log = logging.getLogger(__name__)

Session = Literal["crypto", "stock"]
BARS_PER_CRYPTO_DAY = 24 * 3600 // BAR_SECONDS  # 288
STOCK_SESSION_OPEN_UTC = (14, 30)  # 09:30 New York in winter; the session is 6.5 h = 78 bars
BARS_PER_STOCK_SESSION = 78

# Daily volatility regimes: (name, probability, per-bar log-return sigma range).
# A calm day's sigma keeps every bar far below 5% amplitude; volatile days add bursts whose bars
# often exceed it.
_REGIMES = (
    ("calm", 0.35, (0.0006, 0.0015)),
    ("ordinary", 0.40, (0.0015, 0.004)),
    ("volatile", 0.25, (0.004, 0.009)),
)
# Bursts: (expected count per day, length range in bars, sigma multiplier range), per regime.
_BURSTS = {
    "calm": (0.0, (0, 0), (1.0, 1.0)),
    "ordinary": (1.0, (3, 12), (2.0, 4.0)),
    "volatile": (3.0, (4, 24), (2.5, 5.0)),
}


def _day_regime(rng: np.random.Generator) -> tuple[str, float]:
    names = [r[0] for r in _REGIMES]
    probs = [r[1] for r in _REGIMES]
    index = int(rng.choice(len(names), p=probs))
    low, high = _REGIMES[index][2]
    return names[index], float(rng.uniform(low, high))


def _session_open_times(day: datetime, session: str) -> list[int]:
    """Bar open times (epoch s) of one UTC calendar day for a session type."""
    midnight = int(day.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
    if session == "crypto":
        return [midnight + i * BAR_SECONDS for i in range(BARS_PER_CRYPTO_DAY)]
    if session == "stock":
        if day.weekday() >= 5:  # no session on Saturday and Sunday
            return []
        first = midnight + STOCK_SESSION_OPEN_UTC[0] * 3600 + STOCK_SESSION_OPEN_UTC[1] * 60
        return [first + i * BAR_SECONDS for i in range(BARS_PER_STOCK_SESSION)]
    raise ValueError(f"session must be 'crypto' or 'stock', got {session!r}")


def _bars_of_day(
    rng: np.random.Generator, symbol: str, open_times: Sequence[int], price: float, session: str
) -> tuple[list[Kline], float]:
    regime, sigma = _day_regime(rng)
    n = len(open_times)
    scale = np.full(n, sigma)
    if session == "stock":  # intraday U shape: busier at the open and the close
        phase = np.linspace(-1.0, 1.0, n)
        scale *= 0.7 + 0.6 * phase**2
    rate, (min_len, max_len), (min_mult, max_mult) = _BURSTS[regime]
    for _ in range(int(rng.poisson(rate))):
        length = int(rng.integers(min_len, max_len + 1))
        start = int(rng.integers(0, max(1, n - length)))
        scale[start : start + length] *= rng.uniform(min_mult, max_mult)
    # Student-t shocks (fat tails) and a weak pull back to the day's first price, so a volatile
    # day's range stays within tens of percent.
    shocks = np.clip(rng.standard_t(df=4, size=n) / math.sqrt(2.0), -3.0, 3.0)
    anchor = math.log(price)
    bars: list[Kline] = []
    log_price = anchor
    for i, open_time in enumerate(open_times):
        s = float(scale[i])
        ret = s * float(shocks[i]) - 0.02 * (log_price - anchor)
        open_ = math.exp(log_price)
        close = math.exp(log_price + ret)
        # Intrabar excursions beyond open/close: half-normal, of the bar's own scale.
        up = min(abs(float(rng.normal(0.0, 1.0))), 3.0) * 0.8 * s
        down = min(abs(float(rng.normal(0.0, 1.0))), 3.0) * 0.8 * s
        high = max(open_, close) * math.exp(up)
        low = min(open_, close) * math.exp(-down)
        volume = float(rng.lognormal(mean=math.log(1000.0) + 40 * s, sigma=0.5))
        bars.append(
            Kline(
                symbol,
                open_time,
                round(open_, 6),
                round(high, 6),
                round(low, 6),
                round(close, 6),
                round(volume, 3),
            )
        )
        log_price += ret
    return bars, math.exp(log_price)


def first_utc_day(end: datetime, days: int) -> datetime:
    """The first of `days` whole UTC days that end at the UTC midnight at or after `end`."""
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware UTC")
    if days < 1:
        raise ValueError("days must be >= 1")
    end_utc = end.astimezone(timezone.utc)
    last_midnight = end_utc.replace(hour=0, minute=0, second=0, microsecond=0)
    if last_midnight < end_utc:
        last_midnight += timedelta(days=1)
    return last_midnight - timedelta(days=days)


def synthetic_klines(
    symbols: Sequence[str],
    end: datetime,
    days: int,
    seed: int,
    session: Session = "crypto",
) -> dict[str, list[Kline]]:
    """`days` UTC days of 5-minute bars per symbol, ending at the UTC midnight at or after `end`.

    Each day draws a regime (calm / ordinary / volatile) and a number of bursts per symbol, so
    days differ in how many high-amplitude bars they hold. Stocks get a weekday session of 78
    bars from 14:30 UTC, an overnight gap in price and no weekend bars. Same arguments, same bars.
    """
    first_day = first_utc_day(end, days)
    out: dict[str, list[Kline]] = {}
    for number, symbol in enumerate(symbols):
        # One stream per symbol, so adding a symbol does not change the others' bars.
        rng = np.random.default_rng([seed, number, sum(map(ord, symbol))])
        price = float(np.exp(rng.uniform(math.log(5.0), math.log(500.0))))
        bars: list[Kline] = []
        for d in range(days):
            day = first_day + timedelta(days=d)
            open_times = _session_open_times(day, session)
            if not open_times:
                continue
            if session == "stock" and bars:
                price *= math.exp(float(rng.normal(0.0, 0.01)))  # overnight gap
            day_bars, price = _bars_of_day(rng, symbol, open_times, price, session)
            bars.extend(day_bars)
        out[symbol] = bars
    return out


# --- CSV -----------------------------------------------------------------------------------

CSV_COLUMNS = ("open_time", "open", "high", "low", "close", "volume")
"""Header of a klines CSV. `open_time`: the bar's start as epoch seconds (a multiple of 300) or an
ISO-8601 UTC timestamp (`2026-11-20T14:30:00Z`); `open`, `high`, `low`, `close`: prices;
`volume`: optional (0 when empty or absent). An optional `symbol` column must match `symbol`."""


def _open_time_of(text: str) -> int:
    stripped = text.strip()
    try:
        return int(float(stripped))
    except ValueError:
        return int(parse_utc(stripped).timestamp())


def load_csv(path: Union[str, Path], symbol: str) -> list[Kline]:
    """Read 5-minute bars of one symbol from a CSV with the columns of `CSV_COLUMNS`.

    Rows may come in any order; the result is sorted by open_time. A duplicate open_time or a bar
    not aligned to 5 minutes is an error naming the line.
    """
    bars: dict[int, Kline] = {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS[:5] if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; expected {list(CSV_COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            if row.get("symbol") and row["symbol"].strip() != symbol:
                raise ValueError(f"{path}:{line}: symbol {row['symbol']!r} is not {symbol!r}")
            try:
                bar = Kline(
                    symbol=symbol,
                    open_time=_open_time_of(row["open_time"]),
                    open=float(row["open"]),
                    high=float(row["high"]),
                    low=float(row["low"]),
                    close=float(row["close"]),
                    volume=float(row.get("volume") or 0.0),
                )
            except ValueError as error:
                raise ValueError(f"{path}:{line}: {error}") from None
            if bar.open_time in bars:
                raise ValueError(f"{path}:{line}: duplicate bar at open_time {bar.open_time}")
            bars[bar.open_time] = bar
    return [bars[t] for t in sorted(bars)]


def write_csv(path: Union[str, Path], bars: Sequence[Kline]) -> None:
    """The inverse of `load_csv` (epoch-second open times)."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for bar in bars:
            writer.writerow([bar.open_time, bar.open, bar.high, bar.low, bar.close, bar.volume])


# --- Alpha Vantage ---------------------------------------------------------------------------

ALPHAVANTAGE_URL = "https://www.alphavantage.co/query"
API_KEY_ENV = "ALPHAVANTAGE_API_KEY"
SECRET_NAME_ENV = "ALPHAVANTAGE_SECRET_NAME"
INTRADAY_SERIES_KEY = "Time Series (5min)"


class AlphaVantageError(RuntimeError):
    """The API answered with an error, a rate-limit note or a body that is not a 5min series."""


def resolve_api_key(
    environ: Optional[Mapping[str, str]] = None,
    secret_name: Optional[str] = None,
    secrets_client: Any = None,
) -> str:
    """The Alpha Vantage key: `ALPHAVANTAGE_API_KEY`, else the Secrets Manager secret named by
    `secret_name` or `ALPHAVANTAGE_SECRET_NAME` (a plain string, or JSON with `api_key`)."""
    env = os.environ if environ is None else environ
    key = env.get(API_KEY_ENV, "").strip()
    if key:
        return key
    name = secret_name or env.get(SECRET_NAME_ENV, "").strip()
    if not name:
        raise AlphaVantageError(f"no Alpha Vantage key: set {API_KEY_ENV} or {SECRET_NAME_ENV}")
    if secrets_client is None:
        import boto3

        secrets_client = boto3.client("secretsmanager")
    value = secrets_client.get_secret_value(SecretId=name)["SecretString"].strip()
    if value.startswith("{"):
        document = json.loads(value)
        value = str(document.get("api_key") or document.get(API_KEY_ENV) or "").strip()
    if not value:
        raise AlphaVantageError(f"secret {name!r} holds no api_key")
    return value


def parse_intraday(document: Mapping[str, Any], symbol: Optional[str] = None) -> list[Kline]:
    """An Alpha Vantage TIME_SERIES_INTRADAY (interval=5min) JSON body -> bars in time order.

    Alpha Vantage labels each bar by its start, in the time zone of `Meta Data` / `6. Time Zone`
    (US/Eastern); the result is in UTC epoch seconds (contract 3).
    """
    for field in ("Error Message", "Note", "Information"):
        if field in document:  # rate limits and bad requests come back as 200 with one of these
            raise AlphaVantageError(f"Alpha Vantage: {document[field]}")
    series = document.get(INTRADAY_SERIES_KEY)
    if not isinstance(series, Mapping):
        raise AlphaVantageError(f"response has no {INTRADAY_SERIES_KEY!r}; keys: {sorted(document)}")
    meta = document.get("Meta Data", {})
    name = symbol or str(meta.get("2. Symbol", "")).strip()
    if not name:
        raise AlphaVantageError("no symbol given and none in the response's Meta Data")
    zone_name = str(meta.get("6. Time Zone", "US/Eastern")).strip()
    from zoneinfo import ZoneInfo

    zone = ZoneInfo({"US/Eastern": "America/New_York"}.get(zone_name, zone_name))
    bars = []
    for stamp, values in series.items():
        local = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
        bars.append(
            Kline(
                symbol=name,
                open_time=int(local.astimezone(timezone.utc).timestamp()),
                open=float(values["1. open"]),
                high=float(values["2. high"]),
                low=float(values["3. low"]),
                close=float(values["4. close"]),
                volume=float(values.get("5. volume", 0.0)),
            )
        )
    return sorted(bars, key=lambda bar: bar.open_time)


def _urlopen_json(url: str, timeout: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


class AlphaVantageClient:
    """TIME_SERIES_INTRADAY at 5 minutes. `fetch_json` is injectable so tests replay a recording."""

    def __init__(
        self,
        api_key: Optional[str] = None,
        *,
        base_url: str = ALPHAVANTAGE_URL,
        timeout: float = 30.0,
        fetch_json: Callable[[str, float], Any] = _urlopen_json,
    ):
        self._api_key = api_key  # resolved lazily, so constructing the client reads no secret
        self.base_url = base_url
        self.timeout = timeout
        self._fetch_json = fetch_json

    def __repr__(self) -> str:  # never show the key
        return f"AlphaVantageClient(base_url={self.base_url!r}, api_key=***)"

    def intraday_params(
        self,
        symbol: str,
        *,
        outputsize: str = "full",
        month: Optional[str] = None,
        extended_hours: bool = False,
    ) -> dict[str, str]:
        """The query parameters without the key (what is safe to log)."""
        params = {
            "function": "TIME_SERIES_INTRADAY",
            "symbol": symbol,
            "interval": "5min",
            "outputsize": outputsize,
            "extended_hours": "true" if extended_hours else "false",
            "datatype": "json",
        }
        if month:
            params["month"] = month
        return params

    def intraday(
        self,
        symbol: str,
        *,
        outputsize: str = "full",
        month: Optional[str] = None,
        extended_hours: bool = False,
    ) -> list[Kline]:
        params = self.intraday_params(
            symbol, outputsize=outputsize, month=month, extended_hours=extended_hours
        )
        log.info("alpha vantage request %s", params)
        if self._api_key is None:
            self._api_key = resolve_api_key()
        url = f"{self.base_url}?{urllib.parse.urlencode({**params, 'apikey': self._api_key})}"
        try:
            document = self._fetch_json(url, self.timeout)
        except urllib.error.HTTPError as error:  # the URL holds the key: report the status only
            raise AlphaVantageError(f"Alpha Vantage HTTP {error.code} for {symbol}") from None
        except urllib.error.URLError as error:
            raise AlphaVantageError(f"Alpha Vantage unreachable for {symbol}: {error.reason}") from None
        return parse_intraday(document, symbol)
