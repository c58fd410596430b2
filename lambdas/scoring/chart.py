"""The one chart renderer (contract 5, render version `chart-v2`).

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
Buys are red dots, sells green, the same size, without antialiasing, so every pixel is white,
red, green or the rule's grey. The same input gives the same bytes.

A change to any of this is a new RENDER_VERSION.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from scoring.market import BAR_SECONDS, BarLike, Trade, bar_open_time

RENDER_VERSION = "chart-v2"
WIDTH_PX = 250
HEIGHT_PX = 150
DPI = 100
DOT_DIAMETER_PX = 5
MARGIN_PX = DOT_DIAMETER_PX // 2 + 1  # each panel's inset: a dot on a limit stays whole
PRICE_PANEL_PX = 98  # rows of the upper (price) panel: about two thirds of the height
RULE_PX = 2
PLACE_PANEL_PX = HEIGHT_PX - PRICE_PANEL_PX - RULE_PX  # rows of the lower (place-in-bar) panel
RULE_RGB = (200, 200, 200)
BUY_RGB = (255, 0, 0)
SELL_RGB = (0, 160, 0)
BACKGROUND_RGB = (255, 255, 255)
# Matplotlib's line style of a chart's dots: round markers of DOT_DIAMETER_PX, no line, no edge.
DOT_STYLE: dict[str, Any] = {
    "linestyle": "none",
    "marker": "o",
    "markersize": DOT_DIAMETER_PX * 72 / DPI,
    "markeredgewidth": 0,
}


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


class _Canvas:
    """One figure per process, reused: only the dots' data and the limits change per image."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, facecolor="white")
        self.canvas = FigureCanvasAgg(self.figure)
        # Panels as (first row from the bottom, rows), insets in figure fractions.
        self.axes = self._panel(PLACE_PANEL_PX + RULE_PX, PRICE_PANEL_PX)
        self.place_axes = self._panel(0, PLACE_PANEL_PX)
        self.place_axes.set_ylim(0.0, 1.0)
        rule_bottom = PLACE_PANEL_PX / HEIGHT_PX
        self.figure.patches.append(
            Rectangle(
                (0.0, rule_bottom),
                1.0,
                RULE_PX / HEIGHT_PX,
                transform=self.figure.transFigure,
                facecolor=np.array(RULE_RGB) / 255,
                edgecolor="none",
                linewidth=0,
                antialiased=False,
            )
        )
        self.buys, self.sells = self._dots(self.axes)
        self.buy_places, self.sell_places = self._dots(self.place_axes)
        # Everything but the dots is fixed: draw it once, then per image restore it and draw the
        # dots alone (blitting), which costs a third of a full figure draw.
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)
        self.lock = threading.Lock()

    def _panel(self, bottom_px: int, rows: int) -> Any:
        inset_x = MARGIN_PX / WIDTH_PX
        axes = self.figure.add_axes(
            (
                inset_x,
                (bottom_px + MARGIN_PX) / HEIGHT_PX,
                1 - 2 * inset_x,
                (rows - 2 * MARGIN_PX) / HEIGHT_PX,
            )
        )
        axes.set_axis_off()
        return axes

    @staticmethod
    def _dots(axes: Any) -> list[Any]:
        lines = [axes.plot([], [], color=np.array(rgb) / 255, **DOT_STYLE)[0] for rgb in (BUY_RGB, SELL_RGB)]
        for dots in lines:
            dots.set_clip_on(False)
        return lines

    def set_points(self, points: ChartPoints) -> None:
        self.buys.set_data(points.buy_x, points.buy_y)
        self.sells.set_data(points.sell_x, points.sell_y)
        self.buy_places.set_data(points.buy_x, points.buy_place)
        self.sell_places.set_data(points.sell_x, points.sell_place)
        self.axes.set_xlim(*points.xlim)
        self.axes.set_ylim(*points.ylim)
        self.place_axes.set_xlim(*points.xlim)

    def draw(self, points: ChartPoints) -> np.ndarray:
        with self.lock:
            self.set_points(points)
            self.canvas.restore_region(self.background)
            for axes, dots in (
                (self.axes, self.buys),
                (self.axes, self.sells),
                (self.place_axes, self.buy_places),
                (self.place_axes, self.sell_places),
            ):
                axes.draw_artist(dots)
            rgba = np.asarray(self.canvas.buffer_rgba())
            return np.ascontiguousarray(rgba[:, :, :3])


_canvas: Optional[_Canvas] = None


def _shared_canvas() -> _Canvas:
    global _canvas
    if _canvas is None:  # built on first use, not at import (cold start pays only when it renders)
        _canvas = _Canvas()
    return _canvas


def render_chart_pixels(bars: Sequence[BarLike], trades: Sequence[Trade]) -> np.ndarray:
    """The chart as a (150, 250, 3) uint8 RGB array: the pixels the PNG holds."""
    return _shared_canvas().draw(chart_points(bars, trades))


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
    "encode_png",
    "render_chart",
    "render_chart_pixels",
]
