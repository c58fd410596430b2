"""The render and network experiments: chart-v1's dots on the same geometry plus grey bar ranges,
every architecture's output, and an evaluation that never mixes render versions."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import torch

from scoring.chart import BUY_RGB, SELL_RGB, decode_png, render_chart
from training.evaluate import run_evaluation
from training.experiments.bars_overlay import render_with_bars, render_with_traded_bars
from training.market_data import synthetic_klines
from training.models import ARCHITECTURES, build_model
from training.simulate import account_charts, simulate_accounts


def thief_chart():
    """The bars and trades of one simulated thief's chart."""
    end = datetime(2026, 11, 1, tzinfo=timezone.utc)
    klines = synthetic_klines(["BTC-USD"], end, 2, seed=2)
    account = simulate_accounts(klines, 1, 0, seed=2, window_end=end - timedelta(hours=2))[0]
    _, bars, trades = account_charts(account, klines)[0]
    return bars, trades


def test_overlay_keeps_the_dots_and_adds_only_grey():
    bars, trades = thief_chart()
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


def test_traded_only_draws_fewer_bars_than_every_bar():
    bars, trades = thief_chart()
    plain = decode_png(render_chart(bars, trades))

    def grey_pixels(png: bytes) -> int:
        pixels = decode_png(png)
        return int(((pixels != plain).any(axis=2) & (plain == 255).all(axis=2)).sum())

    assert (
        0 < grey_pixels(render_with_traded_bars(bars, trades)) < grey_pixels(render_with_bars(bars, trades))
    )


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_architecture_maps_a_chart_batch_to_two_logits(architecture):
    network = build_model(architecture).eval()
    with torch.no_grad():
        assert network(torch.zeros(2, 3, 40, 250)).shape == (2, 2)


def test_the_keepx_stem_halves_the_height_only_once_more():
    chart = torch.zeros(1, 3, 40, 250)
    with torch.no_grad():
        narrow = build_model("resnet18_narrow").stem(chart)  # type: ignore[operator]
        keepx = build_model("resnet18_narrow_keepx").stem(chart)  # type: ignore[operator]
    assert narrow.shape[-2:] == (10, 63) and keepx.shape[-2:] == (10, 125)


def test_evaluation_refuses_a_held_out_set_of_another_render_version(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "metadata.json").write_text(json.dumps({"render_version": "experiment-traded-bars"}))
    with pytest.raises(ValueError, match="pass its renderer"):
        run_evaluation(model, tmp_path / "report", work_dir=tmp_path, images_per_class=2)
    held = tmp_path / "heldout-7000001-2-experiment-traded-bars"
    held.mkdir()
    (held / "manifest.json").write_text(json.dumps({"render_version": "chart-v1"}))
    with pytest.raises(ValueError, match="another render version"):
        run_evaluation(model, tmp_path / "report", work_dir=tmp_path, images_per_class=2)
