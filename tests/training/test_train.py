"""Training-time augmentation keeps what identifies a thief: every bar's column of dots."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from scoring.chart import BUY_RGB, SELL_RGB, render_chart_pixels
from scoring.market import Kline, Trade
from training.serving.inference import resize
from training.train import mirror_price, roll_columns

WHITE = (255, 255, 255)


def test_roll_rotates_each_chart_by_its_own_shift_and_keeps_every_column_whole():
    rng = np.random.default_rng(3)
    batch = rng.integers(0, 256, size=(6, 7, 11, 3), dtype=np.uint8)
    rolled = roll_columns(batch, np.random.default_rng(5))
    assert rolled.shape == batch.shape and rolled.dtype == batch.dtype
    shifts = []
    for original, moved in zip(batch, rolled):
        matches = [s for s in range(11) if np.array_equal(np.roll(original, s, axis=1), moved)]
        assert len(matches) == 1  # a rotation of the columns, nothing else
        shifts.append(matches[0])
    assert len(set(shifts)) > 1  # each chart its own shift


def _chart_with_a_theft() -> np.ndarray:
    """12 bars; in bar 5 (96-104) a buy at the low and a sell at the high, in bar 9 an ordinary buy."""
    start = 1_790_000_100
    bars = [
        Kline("BTC-USD", start + 300 * i, 100.0, 104.0 if i == 5 else 101.0, 96.0 if i == 5 else 99.0, 100.0)
        for i in range(12)
    ]

    def fill(n: int, side: str, price: float, bar: int) -> Trade:
        at = datetime.fromtimestamp(start + 300 * bar + 10 * n, tz=timezone.utc)
        return Trade("u-1", f"t-{n}", "BTC-USD", side, price, 1.0, at)  # type: ignore[arg-type]

    return render_chart_pixels(
        bars, [fill(1, "BUY", 96.0, 5), fill(2, "SELL", 104.0, 5), fill(3, "BUY", 100.5, 9)]
    )


def test_mirror_price_turns_the_chart_upside_down_and_swaps_the_sides_colours():
    pixels = np.array([[[WHITE, BUY_RGB], [SELL_RGB, WHITE]]], dtype=np.uint8)
    mirrored = mirror_price(pixels)
    assert mirrored.dtype == np.uint8
    assert mirrored[0].tolist() == [[list(BUY_RGB), list(WHITE)], [list(WHITE), list(SELL_RGB)]]


def _runs(columns: np.ndarray) -> int:
    """How many separate stretches of columns (one per dot here: the bars are 20 px apart)."""
    inked = np.flatnonzero(columns)
    return int(len(inked) and 1 + (np.diff(inked) > 1).sum())


def test_mirror_price_keeps_a_buy_at_the_low_below_a_sell_at_the_high_and_undoes_itself():
    chart = resize(_chart_with_a_theft(), {"height": 40, "width": 250, "resize": "box"})[None]
    mirrored = mirror_price(chart)
    assert np.abs(mirror_price(mirrored).astype(int) - chart).max() <= 1  # rounding only
    # before: buys at the low (bar 5) and mid-range (bar 9), a sell at the high (bar 5); after: a
    # buy at the low and a sell at the high of bar 5, and the ordinary buy became a sell
    for image, buys, sells in ((chart[0], 2, 1), (mirrored[0], 1, 2)):
        red = image[..., 0].astype(int) > image[..., 1].astype(int) + 40
        green = image[..., 1].astype(int) > image[..., 0].astype(int) + 40
        assert (_runs(red.any(axis=0)), _runs(green.any(axis=0))) == (buys, sells)
        red_rows, green_rows = np.flatnonzero(red.any(axis=1)), np.flatnonzero(green.any(axis=1))
        assert (
            red_rows.max() > green_rows.max() and green_rows.min() < red_rows.min()
        )  # red lowest, green highest
