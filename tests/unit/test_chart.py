"""Golden tests of the chart contract (docs/design.md, contract 5, chart-v3): any drift fails here."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from scoring import chart
from scoring.chart import (
    HEIGHT_PX,
    MARGIN_PX,
    PLACE_PANEL_PX,
    PRICE_PANEL_PX,
    RENDER_VERSION,
    RULE_PX,
    RULE_RGB,
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


PLACE_TOP = PRICE_PANEL_PX + RULE_PX  # the lower panel's first row


def price_panel(px: np.ndarray) -> np.ndarray:
    return px[:PRICE_PANEL_PX]


def place_panel(px: np.ndarray) -> np.ndarray:
    return px[PLACE_TOP:]


def expected_pixel(bar: int, n_bars: int, price: float, low: float, high: float) -> tuple[float, float]:
    """Contract 5's upper panel: x = bar index on [-0.5, n-0.5], y = price on [low, high], inset."""
    inner_w, inner_h = WIDTH_PX - 2 * MARGIN_PX, PRICE_PANEL_PX - 2 * MARGIN_PX
    col = MARGIN_PX + (bar + 0.5) / n_bars * inner_w
    row = MARGIN_PX + (high - price) / (high - low) * inner_h
    return row, col


def expected_place_pixel(bar: int, n_bars: int, place: float) -> tuple[float, float]:
    """Contract 5's lower panel (rows counted from its first): y = place in the bar on [0, 1], inset."""
    inner_w, inner_h = WIDTH_PX - 2 * MARGIN_PX, PLACE_PANEL_PX - 2 * MARGIN_PX
    col = MARGIN_PX + (bar + 0.5) / n_bars * inner_w
    row = MARGIN_PX + (1.0 - place) * inner_h
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


def test_image_is_250_by_150_rgb_png_with_white_background_and_a_grey_rule():
    assert RENDER_VERSION == "chart-v3"
    assert PRICE_PANEL_PX + RULE_PX + PLACE_PANEL_PX == HEIGHT_PX == 150
    png = render_chart(bars(), scene_trades())
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    px = decode_png(png)
    assert px.shape == (HEIGHT_PX, WIDTH_PX, 3)
    assert tuple(px[0, 0]) == (255, 255, 255) and tuple(px[-1, -1]) == (255, 255, 255)
    rule = px[PRICE_PANEL_PX:PLACE_TOP]
    assert (rule == np.array(RULE_RGB, dtype=np.uint8)).all(), "the rule spans the full width, exactly"
    # Elsewhere only white, red-ish and green-ish pixels: no axes, ticks, labels, frame or bars.
    for panel in (price_panel(px), place_panel(px)):
        r, g, b = (panel[..., i].astype(int) for i in range(3))
        neutral = (np.abs(r - g) < 8) & (np.abs(g - b) < 8)
        assert (panel[neutral] == 255).all(), (
            "a grey or black pixel means something other than dots was drawn"
        )


def test_same_input_gives_same_bytes_whatever_was_rendered_before():
    first = render_chart(bars(), scene_trades())
    render_chart(bars(20, low=5, high=6), [trade(0, "SELL", 5.5, 3)])
    assert render_chart(bars(), scene_trades()) == first


def test_png_holds_exactly_the_rendered_pixels():
    png = render_chart(bars(), scene_trades())
    assert np.array_equal(decode_png(png), render_chart_pixels(bars(), scene_trades()))


def test_every_pixel_is_white_red_green_or_the_rules_grey():
    crowded = [trade(i, "BUY" if i % 2 else "SELL", 100.0 + (i % 11), i % 7) for i in range(60)]
    px = render_chart_pixels(bars(), crowded)
    colours = {tuple(int(v) for v in rgb) for rgb in px.reshape(-1, 3)}
    assert colours == {(255, 255, 255), chart.BUY_RGB, chart.SELL_RGB, RULE_RGB}


def test_a_sell_drawn_over_a_buy_at_the_same_place_shows_green():
    px = render_chart_pixels(bars(), [trade(0, "BUY", 105.0, 20), trade(1, "SELL", 105.0, 20)])
    assert not red_mask(px).any() and len(blobs(green_mask(px))) == 2


def nearest_blob(
    candidates: list[list[tuple[int, int]]], where: tuple[float, float]
) -> list[tuple[int, int]]:
    return min(candidates, key=lambda blob: np.hypot(*np.subtract(centroid(blob), where)))


def test_one_red_dot_per_buy_and_one_green_dot_per_sell_where_the_contract_puts_them():
    px = price_panel(render_chart_pixels(bars(), scene_trades()))
    red, green = blobs(red_mask(px)), blobs(green_mask(px))
    assert len(red) == sum(1 for s, _, _ in SCENE if s == "BUY")
    assert len(green) == sum(1 for s, _, _ in SCENE if s == "SELL")
    for side, price, bar in SCENE:
        row, col = expected_pixel(bar, 96, price, 100.0, 110.0)
        nearest = nearest_blob(red if side == "BUY" else green, (row, col))
        # A dot sits on the pixel holding its position: within one pixel on each axis.
        assert np.abs(np.subtract(centroid(nearest), (row, col))).max() <= 1.0, (side, price, bar)


def test_lower_panel_places_each_trade_at_its_position_inside_its_own_bar():
    # Bars of different ranges: the place is read from the trade's own bar, not the window's scale.
    klines = bars()
    klines[10] = Kline("BTC-USD", T0 + 10 * 300, 104, 106, 102, 105)
    klines[40] = Kline("BTC-USD", T0 + 40 * 300, 101, 109, 100, 108)
    scene = [
        ("BUY", 102.5, 10, 0.125),
        ("SELL", 105.5, 10, 0.875),
        ("BUY", 104.0, 40, 4 / 9),
        ("SELL", 108.0, 41, 0.8),
    ]
    px = place_panel(render_chart_pixels(klines, [trade(i, s, p, b) for i, (s, p, b, _) in enumerate(scene)]))
    red, green = blobs(red_mask(px)), blobs(green_mask(px))
    assert len(red) == 2 and len(green) == 2
    for side, _, bar, place in scene:
        row, col = expected_place_pixel(bar, 96, place)
        nearest = nearest_blob(red if side == "BUY" else green, (row, col))
        assert np.abs(np.subtract(centroid(nearest), (row, col))).max() <= 1.0, (side, bar, place)


def test_a_thiefs_round_trip_is_red_at_the_bottom_and_green_at_the_top_of_one_column():
    wide = bars()
    wide[30] = Kline("BTC-USD", T0 + 30 * 300, 101, 110, 100, 109)
    thief = [trade(0, "BUY", 100.2, 30), trade(1, "SELL", 109.8, 30, offset=200)]
    victim = [trade(0, "BUY", 109.8, 30), trade(1, "SELL", 100.2, 30, offset=200)]
    for trades, buy_low in ((thief, True), (victim, False)):
        px = place_panel(render_chart_pixels(wide, trades))
        ((buy,), (sell,)) = blobs(red_mask(px)), blobs(green_mask(px))
        (buy_row, buy_col), (sell_row, sell_col) = centroid(buy), centroid(sell)
        assert buy_col == sell_col
        assert (buy_row > sell_row) == buy_low  # rows grow downwards: the bar's low is at the bottom
        assert (
            min(buy_row, sell_row) < PLACE_PANEL_PX * 0.25 and max(buy_row, sell_row) > PLACE_PANEL_PX * 0.75
        )


def test_buy_and_sell_dots_are_the_same_size_in_both_panels():
    px = render_chart_pixels(bars(), scene_trades())
    found = [
        blob
        for panel in (price_panel(px), place_panel(px))
        for blob in blobs(red_mask(panel)) + blobs(green_mask(panel))
    ]
    assert len(found) == 2 * len(SCENE)
    sizes = {len(blob) for blob in found}
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
    for panel in (price_panel(px), place_panel(px)):
        sizes = sorted(len(blob) for blob in blobs(red_mask(panel)) + blobs(green_mask(panel)))
        assert len(sizes) == 5
        assert sizes[0] == sizes[-1], f"a dot on a limit lost pixels: {sizes}"


def test_off_market_trade_widens_the_price_scale_instead_of_leaving_the_picture():
    outside = [trade(0, "SELL", 125.0, 5), trade(1, "BUY", 90.0, 6)]
    points = chart_points(bars(), outside)
    assert points.ylim == (90.0, 125.0)
    assert points.sell_place.tolist() == [1.0] and points.buy_place.tolist() == [0.0]  # the nearer limit
    px = render_chart_pixels(bars(), outside)
    for panel in (price_panel(px), place_panel(px)):
        assert len(blobs(red_mask(panel))) == 1 and len(blobs(green_mask(panel))) == 1


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
    for panel, rows in ((price_panel(px), PRICE_PANEL_PX), (place_panel(px), PLACE_PANEL_PX)):
        (dot,) = blobs(green_mask(panel))
        row, _ = centroid(dot)
        assert abs(row - rows / 2) <= 1.0
