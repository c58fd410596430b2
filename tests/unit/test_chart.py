"""Golden tests of the chart contract (docs/design.md, contract 5): any drift fails here."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from scoring import chart
from scoring.chart import (
    HEIGHT_PX,
    MARGIN_PX,
    WIDTH_PX,
    ChartInputError,
    MissingBarError,
    chart_points,
    decode_png,
    render_chart,
    render_chart_pixels,
)
from scoring.market import Kline, Trade, epoch_to_utc

T0 = 1_763_164_800  # 2025-11-15T00:00:00Z, a multiple of 300


def bars(n: int = 96, symbol: str = "BTC-USD", low: float = 100.0, high: float = 110.0) -> list[Kline]:
    return [Kline(symbol, T0 + i * 300, low + 1, high, low, low + 2) for i in range(n)]


def trade(i: int, side: str, price: float, bar: int, symbol: str = "BTC-USD", offset: int = 17) -> Trade:
    return Trade("u-1", f"t-{i}", symbol, side, price, 1.0, epoch_to_utc(T0 + bar * 300 + offset))  # type: ignore[arg-type]


def blobs(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """4-connected components of a boolean mask, as lists of (row, col)."""
    seen = np.zeros_like(mask, dtype=bool)
    found = []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        seen[start] = True
        queue, pixels = deque([start]), []
        while queue:
            r, c = queue.popleft()
            pixels.append((r, c))
            for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                nr, nc = r + dr, c + dc
                if 0 <= nr < mask.shape[0] and 0 <= nc < mask.shape[1] and mask[nr, nc] and not seen[nr, nc]:
                    seen[nr, nc] = True
                    queue.append((nr, nc))
        found.append(pixels)
    return found


def red_mask(px: np.ndarray) -> np.ndarray:
    r, g, b = (px[..., i].astype(int) for i in range(3))
    return (r - g > 60) & (r - b > 60)


def green_mask(px: np.ndarray) -> np.ndarray:
    r, g, b = (px[..., i].astype(int) for i in range(3))
    return (g - r > 60) & (g - b > 60)


def expected_pixel(bar: int, n_bars: int, price: float, low: float, high: float) -> tuple[float, float]:
    """Contract 5's mapping: x = bar index on [-0.5, n-0.5], y = price on [low, high], in the inset area."""
    inner_w, inner_h = WIDTH_PX - 2 * MARGIN_PX, HEIGHT_PX - 2 * MARGIN_PX
    col = MARGIN_PX + (bar + 0.5) / n_bars * inner_w
    row = MARGIN_PX + (high - price) / (high - low) * inner_h
    return row, col


def centroid(pixels: list[tuple[int, int]]) -> tuple[float, float]:
    rows, cols = zip(*pixels)
    return float(np.mean(rows)) + 0.5, float(np.mean(cols)) + 0.5  # pixel centres


SCENE = [  # well-separated dots: (side, price, bar)
    ("BUY", 101.0, 10),
    ("SELL", 109.0, 10),
    ("BUY", 102.0, 40),
    ("SELL", 108.0, 41),
    ("BUY", 105.0, 70),
]


def scene_trades() -> list[Trade]:
    return [trade(i, side, price, bar) for i, (side, price, bar) in enumerate(SCENE)]


def test_image_is_250_by_150_rgb_png_with_white_background():
    png = render_chart(bars(), scene_trades())
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    px = decode_png(png)
    assert px.shape == (HEIGHT_PX, WIDTH_PX, 3)
    assert tuple(px[0, 0]) == (255, 255, 255)
    # Only white, red-ish and green-ish pixels: no axes, ticks, labels, frame or drawn bars.
    r, g, b = (px[..., i].astype(int) for i in range(3))
    neutral = (np.abs(r - g) < 8) & (np.abs(g - b) < 8)
    assert (px[neutral] == 255).all(), "a grey or black pixel means something other than dots was drawn"


def test_same_input_gives_same_bytes_whatever_was_rendered_before():
    first = render_chart(bars(), scene_trades())
    render_chart(bars(20, low=5, high=6), [trade(0, "SELL", 5.5, 3)])
    assert render_chart(bars(), scene_trades()) == first


def test_png_holds_exactly_the_rendered_pixels():
    png = render_chart(bars(), scene_trades())
    assert np.array_equal(decode_png(png), render_chart_pixels(bars(), scene_trades()))


def test_reused_figure_draws_what_a_fresh_full_draw_draws():
    reused = render_chart_pixels(bars(), scene_trades())
    fresh = chart._Canvas()
    points = chart_points(bars(), scene_trades())
    fresh.buys.set_data(points.buy_x, points.buy_y)
    fresh.sells.set_data(points.sell_x, points.sell_y)
    fresh.axes.set_xlim(*points.xlim)
    fresh.axes.set_ylim(*points.ylim)
    fresh.canvas.draw()
    assert np.array_equal(reused, np.asarray(fresh.canvas.buffer_rgba())[:, :, :3])


def test_one_red_dot_per_buy_and_one_green_dot_per_sell_where_the_contract_puts_them():
    px = render_chart_pixels(bars(), scene_trades())
    red, green = blobs(red_mask(px)), blobs(green_mask(px))
    assert len(red) == sum(1 for s, _, _ in SCENE if s == "BUY")
    assert len(green) == sum(1 for s, _, _ in SCENE if s == "SELL")
    for side, price, bar in SCENE:
        row, col = expected_pixel(bar, 96, price, 100.0, 110.0)
        candidates = red if side == "BUY" else green
        nearest = min(candidates, key=lambda blob: np.hypot(*np.subtract(centroid(blob), (row, col))))
        # Agg snaps a marker's centre to the pixel grid: within one pixel on each axis.
        assert np.abs(np.subtract(centroid(nearest), (row, col))).max() <= 1.0, (side, price, bar)


def test_buy_and_sell_dots_are_the_same_size():
    px = render_chart_pixels(bars(), scene_trades())
    sizes = {len(blob) for blob in blobs(red_mask(px)) + blobs(green_mask(px))}
    assert len(sizes) == 1 and sizes.pop() >= 9


def test_dots_on_every_limit_are_whole_not_clipped():
    n = 288
    corners = [
        trade(0, "BUY", 100.0, 0),  # first bar, lowest low
        trade(1, "SELL", 110.0, n - 1),  # last bar, highest high
        trade(2, "SELL", 100.0, n - 1),
        trade(3, "BUY", 110.0, 0),
    ]
    middle = [trade(9, "BUY", 105.0, n // 2)]
    px = render_chart_pixels(bars(n), corners + middle)
    sizes = sorted(len(blob) for blob in blobs(red_mask(px)) + blobs(green_mask(px)))
    assert len(sizes) == 5
    assert sizes[0] == sizes[-1], f"a dot on a limit lost pixels: {sizes}"


def test_off_market_trade_widens_the_price_scale_instead_of_leaving_the_picture():
    outside = [trade(0, "SELL", 125.0, 5), trade(1, "BUY", 90.0, 6)]
    points = chart_points(bars(), outside)
    assert points.ylim == (90.0, 125.0)
    px = render_chart_pixels(bars(), outside)
    assert len(blobs(red_mask(px))) == 1 and len(blobs(green_mask(px))) == 1


def test_bar_index_not_clock_time_sets_x_so_trading_gaps_do_not_show():
    session = bars(10)
    overnight_gap = [Kline("BTC-USD", T0 + 86_400 + i * 300, 101, 110, 100, 102) for i in range(10)]
    points = chart_points(
        session + overnight_gap, [Trade("u", "t", "BTC-USD", "BUY", 105, 1, epoch_to_utc(T0 + 86_400 + 1))]
    )
    assert points.buy_x.tolist() == [10.0]
    assert points.xlim == (-0.5, 19.5)


def test_a_trade_in_a_bar_without_kline_is_missing_market_data():
    with pytest.raises(MissingBarError) as caught:
        render_chart(bars(10), [trade(0, "BUY", 105.0, 50)])
    assert caught.value.symbol == "BTC-USD" and caught.value.open_times == [T0 + 50 * 300]


@pytest.mark.parametrize(
    ("klines", "trades", "message"),
    [
        ([], [], "no bars"),
        (bars(5), [trade(0, "BUY", 105.0, 1, symbol="ETH-USD")], "one chart is one symbol"),
        (list(reversed(bars(5))), [], "increasing"),
    ],
)
def test_inputs_that_cannot_make_a_chart_are_refused_with_a_reason(klines, trades, message):
    with pytest.raises(ChartInputError, match=message):
        render_chart(klines, trades)


def test_flat_market_still_renders_one_centred_dot():
    flat = [Kline("X", T0 + i * 300, 50, 50, 50, 50) for i in range(12)]
    px = render_chart_pixels(flat, [Trade("u", "t", "X", "SELL", 50, 1, epoch_to_utc(T0 + 5 * 300))])
    (dot,) = blobs(green_mask(px))
    row, _ = centroid(dot)
    assert abs(row - HEIGHT_PX / 2) <= 1.0
