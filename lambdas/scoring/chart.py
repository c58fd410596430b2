"""The one chart renderer (contract 5, render version `chart-v3`).

Training renders its images through this module and the scoring function renders what it sends
to the endpoint through it too, so the model sees at serving time exactly what it learnt from.

The image of one symbol, 250 x 150 px RGB PNG, two panels sharing one x axis: x = index of each
trade's 5-minute bar among the window's bars (gaps in trading hours do not show), limits
[-0.5, n_bars - 0.5].
- Upper panel (rows 0-97, the price panel): y = price, limits = lowest low and highest high of
  the bars (and of the trades, should one print off-market).
- A light-grey rule (rows 98-99).
- Lower panel (rows 100-149, the place-in-bar panel): y = the trade's position inside its own
  bar's range, (price - low) / (high - low) on [0, 1], the bar's low at the bottom; a print
  outside its bar's range sits on the nearer limit, a trade in a flat bar in the middle.
So a thief's round trip in one bar is a red dot at the bottom and a green one at the top of one
column of the lower panel. Each panel is inset by a dot's radius plus a pixel, so a dot on any
limit is drawn whole, never clipped. The bars themselves, axes, ticks and frame are not drawn.

Each dot is the same 5 x 5 disc (corners left out) stamped with numpy on the pixel that holds
its position, buys red first, then sells green over them, without antialiasing: every pixel is
white, red, green or the rule's grey, and the same input gives the same bytes. No plotting
library is imported, so the function's cold start does not pay for one.

A change to any of this is a new RENDER_VERSION.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from scoring.market import BAR_SECONDS, BarLike, Trade, bar_open_time

RENDER_VERSION = "chart-v3"
WIDTH_PX = 250
HEIGHT_PX = 150
DOT_DIAMETER_PX = 5
MARGIN_PX = DOT_DIAMETER_PX // 2 + 1  # each panel's inset: a dot on a limit stays whole
PRICE_PANEL_PX = 98  # rows of the upper (price) panel: about two thirds of the height
RULE_PX = 2
PLACE_PANEL_PX = HEIGHT_PX - PRICE_PANEL_PX - RULE_PX  # rows of the lower (place-in-bar) panel
RULE_RGB = (200, 200, 200)
BUY_RGB = (255, 0, 0)
SELL_RGB = (0, 160, 0)
BACKGROUND_RGB = (255, 255, 255)
# The dot's footprint around its pixel: a 5 x 5 square without its four corners.
_DOT_OFFSETS = np.array(
    [(dr, dc) for dr in range(-2, 3) for dc in range(-2, 3) if abs(dr) + abs(dc) < 4], dtype=np.intp
)


class ChartInputError(ValueError):
    """The bars or trades cannot make a contract-5 image."""


class MissingBarError(ChartInputError):
    """A trade falls in a 5-minute bar that the klines do not have: market data is missing."""

    def __init__(self, symbol: str, open_times: Sequence[int]):
        self.symbol = symbol
        self.open_times = sorted(set(open_times))
        shown = ", ".join(str(t) for t in self.open_times[:5])
        more = f" (+{len(self.open_times) - 5} more)" if len(self.open_times) > 5 else ""
        super().__init__(f"{symbol}: no kline for the bar(s) at {shown}{more} in which the account traded")


@dataclass(frozen=True)
class ChartPoints:
    """Where the dots go, in data coordinates, and the limits of the plot area."""

    buy_x: np.ndarray
    buy_y: np.ndarray
    sell_x: np.ndarray
    sell_y: np.ndarray
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    buy_place: np.ndarray  # position inside the trade's own bar's range, 0 = low, 1 = high
    sell_place: np.ndarray


def chart_points(bars: Sequence[BarLike], trades: Sequence[Trade]) -> ChartPoints:
    """Place one symbol's trades on its bars' scale (pure arithmetic, no drawing)."""
    if not bars:
        raise ChartInputError("no bars: a chart needs the symbol's 5-minute klines for the window")
    symbols = {bar.symbol for bar in bars} | {trade.symbol for trade in trades}
    if len(symbols) != 1:
        raise ChartInputError(f"one chart is one symbol; got {sorted(symbols)}")
    open_times = [bar.open_time for bar in bars]
    if any(later <= earlier for earlier, later in zip(open_times, open_times[1:])):
        raise ChartInputError(f"{bars[0].symbol}: bars must be in strictly increasing open_time order")

    index_of = {open_time: index for index, open_time in enumerate(open_times)}
    missing = [bar_open_time(t.traded_at) for t in trades if bar_open_time(t.traded_at) not in index_of]
    if missing:
        raise MissingBarError(bars[0].symbol, missing)

    buys = [t for t in trades if t.side == "BUY"]
    sells = [t for t in trades if t.side == "SELL"]
    low = min(min(bar.low for bar in bars), min((t.price for t in trades), default=np.inf))
    high = max(max(bar.high for bar in bars), max((t.price for t in trades), default=-np.inf))
    if high <= low:  # a flat market: centre the dots rather than divide by zero
        pad = max(abs(low) * 1e-3, 1e-9)
        low, high = low - pad, high + pad

    def xs(group: Sequence[Trade]) -> np.ndarray:
        return np.array([index_of[bar_open_time(t.traded_at)] for t in group], dtype=float)

    def ys(group: Sequence[Trade]) -> np.ndarray:
        return np.array([t.price for t in group], dtype=float)

    def places(group: Sequence[Trade]) -> np.ndarray:
        out = np.full(len(group), 0.5)
        for k, t in enumerate(group):
            bar = bars[index_of[bar_open_time(t.traded_at)]]
            if bar.high > bar.low:
                out[k] = min(1.0, max(0.0, (t.price - bar.low) / (bar.high - bar.low)))
        return out

    return ChartPoints(
        buy_x=xs(buys),
        buy_y=ys(buys),
        sell_x=xs(sells),
        sell_y=ys(sells),
        xlim=(-0.5, len(bars) - 0.5),
        ylim=(float(low), float(high)),
        buy_place=places(buys),
        sell_place=places(sells),
    )


def _background() -> np.ndarray:
    pixels = np.empty((HEIGHT_PX, WIDTH_PX, 3), dtype=np.uint8)
    pixels[:] = BACKGROUND_RGB
    pixels[PRICE_PANEL_PX : PRICE_PANEL_PX + RULE_PX] = RULE_RGB
    return pixels


_BACKGROUND = _background()


def _pixel_index(fraction: np.ndarray, first: int, rows: int) -> np.ndarray:
    """Fractions of a panel's inset span (0 = first edge) -> the index of the pixel holding each."""
    position = first + MARGIN_PX + fraction * (rows - 2 * MARGIN_PX)
    return np.clip(np.floor(position), first + MARGIN_PX, first + rows - 1 - MARGIN_PX).astype(np.intp)


def _stamp(pixels: np.ndarray, rows: np.ndarray, cols: np.ndarray, rgb: tuple[int, int, int]) -> None:
    if rows.size:
        pixels[(rows[:, None] + _DOT_OFFSETS[:, 0]).ravel(), (cols[:, None] + _DOT_OFFSETS[:, 1]).ravel()] = (
            rgb
        )


def draw_points(points: ChartPoints) -> np.ndarray:
    """The chart of placed points as a (150, 250, 3) uint8 RGB array."""
    pixels = _BACKGROUND.copy()
    x0, x1 = points.xlim
    y0, y1 = points.ylim
    place_first = PRICE_PANEL_PX + RULE_PX
    panels = []
    for xs, price, place, rgb in (
        (points.buy_x, points.buy_y, points.buy_place, BUY_RGB),
        (points.sell_x, points.sell_y, points.sell_place, SELL_RGB),
    ):
        cols = _pixel_index((xs - x0) / (x1 - x0), 0, WIDTH_PX)
        panels.append((_pixel_index((y1 - price) / (y1 - y0), 0, PRICE_PANEL_PX), cols, rgb))
        panels.append((_pixel_index(1.0 - place, place_first, PLACE_PANEL_PX), cols, rgb))
    for rows, cols, rgb in panels:  # buys before sells: where two dots overlap, the sell shows
        _stamp(pixels, rows, cols, rgb)
    return pixels


def render_chart_pixels(bars: Sequence[BarLike], trades: Sequence[Trade]) -> np.ndarray:
    """The chart as a (150, 250, 3) uint8 RGB array: the pixels the PNG holds."""
    return draw_points(chart_points(bars, trades))


def encode_png(pixels: np.ndarray) -> bytes:
    """RGB array -> PNG bytes, with no timestamp or software tag, so equal pixels give equal bytes."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> (H, W, 3) uint8 RGB array (what the model's input pipeline starts from)."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def render_chart(bars: Sequence[BarLike], trades: Sequence[Trade]) -> bytes:
    """One symbol's chart image (contract 5) as PNG bytes."""
    return encode_png(render_chart_pixels(bars, trades))


__all__ = [
    "BAR_SECONDS",
    "BUY_RGB",
    "HEIGHT_PX",
    "PLACE_PANEL_PX",
    "PRICE_PANEL_PX",
    "RENDER_VERSION",
    "RULE_PX",
    "RULE_RGB",
    "SELL_RGB",
    "WIDTH_PX",
    "ChartInputError",
    "ChartPoints",
    "MissingBarError",
    "chart_points",
    "decode_png",
    "draw_points",
    "encode_png",
    "render_chart",
    "render_chart_pixels",
]
