"""The bars-overlay experiment draws chart-v1's dots on the same geometry, plus grey bar ranges."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from scoring.chart import BUY_RGB, SELL_RGB, decode_png, render_chart
from training.experiments.bars_overlay import render_with_bars
from training.market_data import synthetic_klines
from training.simulate import account_charts, simulate_accounts


def test_overlay_keeps_the_dots_and_adds_only_grey():
    end = datetime(2026, 11, 1, tzinfo=timezone.utc)
    klines = synthetic_klines(["BTC-USD"], end, 2, seed=2)
    account = simulate_accounts(klines, 1, 0, seed=2, window_end=end - timedelta(hours=2))[0]
    _, bars, trades = account_charts(account, klines)[0]
    plain = decode_png(render_chart(bars, trades))
    overlay = decode_png(render_with_bars(bars, trades))
    assert overlay.shape == plain.shape == (150, 250, 3)
    pure = np.zeros(plain.shape[:2], dtype=bool)
    for rgb in (BUY_RGB, SELL_RGB):
        pure |= (plain == rgb).all(axis=2)
    assert pure.any() and (overlay[pure] == plain[pure]).all()  # every dot's core, unchanged
    coloured = (plain != 255).any(axis=2)
    added = (overlay != plain).any(axis=2) & ~coloured
    assert added.any()
    grey = overlay[added]
    assert (grey.max(axis=1) - grey.min(axis=1) <= 2).all()  # only neutral grey is added
    assert not np.array_equal(plain, overlay)
