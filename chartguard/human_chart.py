"""The report's chart for people: a symbol's 5-minute candles over the window with the account's trades marked."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from scoring.market import BAR_SECONDS, Kline, Trade, bar_open_time, epoch_to_utc

HUMAN_CHART_SIZE_PX = (760, 560)
ZOOM_SPAN = timedelta(hours=2)
_DPI = 100
_BUY_COLOUR = "#d62728"  # buys red and sells green, as in the model's image
_SELL_COLOUR = "#1a9c3c"
_UP_COLOUR = "#9aa5b1"
_DOWN_COLOUR = "#4b5563"


def busiest_span(trades: Sequence[Trade], span: timedelta = ZOOM_SPAN) -> tuple[datetime, datetime]:
    """First and last trade time of the `span` (default 2 h) that holds the most trades."""
    times = sorted(t.traded_at for t in trades)
    best, best_count, last = 0, 0, 0
    for first in range(len(times)):
        last = max(last, first)
        while last + 1 < len(times) and times[last + 1] - times[first] <= span:
            last += 1
        if last - first + 1 > best_count:
            best, best_count = first, last - first + 1
    return times[best], times[best + best_count - 1]


def _draw_bars_and_trades(
    axes: Any,
    bars: Sequence[Kline],
    trades: Sequence[Trade],
    start: datetime,
    end: datetime,
    *,
    legend: bool,
    time_format: str,
) -> None:
    from matplotlib import dates as mdates

    shown = [b for b in bars if start.timestamp() - BAR_SECONDS < b.open_time < end.timestamp()]
    if shown:
        centres = [mdates.date2num(epoch_to_utc(bar.open_time + BAR_SECONDS / 2)) for bar in shown]
        colours = [_UP_COLOUR if bar.close >= bar.open else _DOWN_COLOUR for bar in shown]
        axes.vlines(centres, [b.low for b in shown], [b.high for b in shown], colors=colours, linewidth=0.8)
        # Bodies as thick line segments (one collection) rather than a Rectangle per bar: 288
        # patches cost half a second to build and draw. 70% of a bar's slot wide, at least 1 pt.
        slots = max((end - start).total_seconds() / BAR_SECONDS, 1.0)
        axes_points = axes.get_position().width * axes.figure.get_figwidth() * 72
        body_points = max(axes_points / slots * 0.7, 1.0)
        lows = [min(b.open, b.close) for b in shown]
        highs = [max(b.open, b.close) for b in shown]
        tick = [(b.high - b.low) * 0.02 or abs(b.close) * 1e-4 for b in shown]
        axes.vlines(
            centres,
            [lo - t / 2 if lo == hi else lo for lo, hi, t in zip(lows, highs, tick)],
            [hi + t / 2 if lo == hi else hi for lo, hi, t in zip(lows, highs, tick)],
            colors=colours,
            linewidth=body_points,
            capstyle="butt",
        )
    inside = [t for t in trades if start <= t.traded_at <= end]
    for side, marker, colour, label in (
        ("BUY", "^", _BUY_COLOUR, "buy"),
        ("SELL", "v", _SELL_COLOUR, "sell"),
    ):
        group = [t for t in inside if t.side == side]
        if group:
            axes.scatter(
                [mdates.date2num(t.traded_at) for t in group],
                [t.price for t in group],
                marker=marker,
                s=46,
                color=colour,
                edgecolors="black",
                linewidths=0.5,
                zorder=3,
                label=f"{label} ({len(group)})",
            )
    axes.set_xlim(mdates.date2num(start), mdates.date2num(end))
    axes.xaxis.set_major_locator(mdates.AutoDateLocator(tz=timezone.utc, minticks=4, maxticks=10))
    axes.xaxis.set_major_formatter(mdates.DateFormatter(time_format, tz=timezone.utc))
    axes.tick_params(labelsize=8)
    axes.set_ylabel("price", fontsize=9)
    axes.grid(True, color="#e5e7eb", linewidth=0.6)
    axes.set_axisbelow(True)
    for spine in ("top", "right"):
        axes.spines[spine].set_visible(False)
    if legend and inside:
        axes.legend(loc="upper left", fontsize=8, frameon=True, framealpha=0.85)
    if not shown:
        axes.text(0.5, 0.5, "no 5-minute klines here", transform=axes.transAxes, ha="center")


def render_human_chart(
    symbol: str,
    bars: Sequence[Kline],
    trades: Sequence[Trade],
    *,
    window_start: datetime,
    window_end: datetime,
) -> bytes:
    """A chart for people (PNG bytes): the symbol's 5-minute candles with the account's trades.

    Top: the whole window, as the model saw it. Bottom: the two busiest hours of the account's
    trading, where one can see each fill against its bar's range (the whole window is 288 bars
    of 2 px at this size). Buys red, sells green, as in the model's image.
    """
    # Imported here: matplotlib costs a second at import, and only the report draws.
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = HUMAN_CHART_SIZE_PX
    figure = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, facecolor="white")
    FigureCanvasAgg(figure)
    whole = figure.add_axes((0.09, 0.585, 0.89, 0.365))
    _draw_bars_and_trades(
        whole, bars, trades, window_start, window_end, legend=True, time_format="%d %b %H:%M"
    )
    whole.set_title(
        f"{symbol}: 5-minute bars and the account's trades, "
        f"{window_start:%d %b %H:%M} to {window_end:%d %b %H:%M} UTC",
        fontsize=9.5,
        loc="left",
    )
    zoom = figure.add_axes((0.09, 0.085, 0.89, 0.375))
    if trades:
        first, last = busiest_span(trades)
        start = max(window_start, epoch_to_utc(bar_open_time(first) - 2 * BAR_SECONDS))
        end = min(window_end, epoch_to_utc(bar_open_time(last) + 3 * BAR_SECONDS))
        _draw_bars_and_trades(zoom, bars, trades, start, end, legend=False, time_format="%H:%M")
        shown = sum(1 for t in trades if start <= t.traded_at <= end)
        zoom.set_title(
            f"zoom on the busiest {ZOOM_SPAN.total_seconds() / 3600:.0f} h: "
            f"{start:%d %b %H:%M} to {end:%d %b %H:%M} UTC, {shown} of {len(trades)} trades",
            fontsize=9,
            loc="left",
        )
        whole.axvspan(
            mdates.date2num(start), mdates.date2num(end), color="#fde68a", alpha=0.35, linewidth=0, zorder=0
        )
    else:
        zoom.set_axis_off()
        zoom.text(0.5, 0.5, "no trades of the account in this symbol", transform=zoom.transAxes, ha="center")
    zoom.set_xlabel("time (UTC)", fontsize=9)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=_DPI, metadata={"Software": None})
    return out.getvalue()
