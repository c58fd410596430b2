"""The trainer's batch path: augmentation keeps what identifies a thief (every bar's column of
dots), the tensor is the serving module's, and the loss weighs and computes as configured."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scoring.chart import BACKGROUND_RGB, BUY_RGB, SELL_RGB, render_chart_pixels  # noqa: E402
from scoring.market import Kline, Trade  # noqa: E402
from training.models import build_model  # noqa: E402
from training.serving.inference import normalise, resize  # noqa: E402
from training.train import (  # noqa: E402
    TrainConfig,
    _evaluate,
    augment,
    class_weights,
    mirror_price,
    resolve_precision,
    roll_columns,
    to_tensor,
    train_step,
)


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
    pixels = np.array([[[BACKGROUND_RGB, BUY_RGB], [SELL_RGB, BACKGROUND_RGB]]], dtype=np.uint8)
    mirrored = mirror_price(pixels)
    assert mirrored.dtype == np.uint8
    assert mirrored[0].tolist() == [
        [list(BUY_RGB), list(BACKGROUND_RGB)],
        [list(BACKGROUND_RGB), list(SELL_RGB)],
    ]


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


CPU = torch.device("cpu")


@pytest.mark.parametrize(
    "spec",
    [
        {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)},
        {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)},
    ],
)
def test_the_training_tensor_is_the_serving_modules_to_the_last_bit(spec):
    pixels = np.random.default_rng(1).integers(0, 256, size=(5, 7, 11, 3), dtype=np.uint8)
    served = torch.from_numpy(normalise(pixels, spec))
    for layout in (torch.contiguous_format, torch.channels_last):
        tensor = to_tensor(pixels, spec, CPU, layout)
        assert tensor.dtype == torch.float32 and torch.equal(tensor, served)
        assert tensor.is_contiguous(memory_format=layout)


def test_roll_and_augment_draw_and_move_as_the_gather_they_replaced():
    """The slice copies equal a gather by (column - shift) mod width, with the same draws in order."""
    batch = np.random.default_rng(6).integers(0, 256, size=(16, 5, 13, 3), dtype=np.uint8)

    def gather(charts, rng):
        shifts = rng.integers(0, charts.shape[2], size=len(charts))
        columns = (np.arange(charts.shape[2])[None, :] - shifts[:, None]) % charts.shape[2]
        return np.take_along_axis(charts, columns[:, None, :, None], axis=2)

    assert np.array_equal(
        roll_columns(batch, np.random.default_rng(9)), gather(batch, np.random.default_rng(9))
    )
    reference_rng, rng = np.random.default_rng(11), np.random.default_rng(11)
    expected = batch.copy()
    mirrored = reference_rng.random(len(batch)) < 0.5  # time mirrored first, then rotated
    expected[mirrored] = expected[mirrored][:, :, ::-1]
    expected = gather(expected, reference_rng)
    assert np.array_equal(augment(batch, TrainConfig(flip_time=True, roll_time=True), rng), expected)
    assert rng.random() == reference_rng.random()  # and the stream goes on where it did


def test_augment_changes_nothing_unless_asked_and_never_writes_to_its_input():
    batch = np.random.default_rng(2).integers(0, 256, size=(8, 5, 9, 3), dtype=np.uint8)
    before = batch.copy()
    assert np.array_equal(augment(batch, TrainConfig(), np.random.default_rng(0)), batch)
    rolled = augment(batch, TrainConfig(flip_time=True, roll_time=True), np.random.default_rng(0))
    assert np.array_equal(batch, before) and not np.array_equal(rolled, batch)


def test_precision_auto_takes_bf16_only_where_the_hardware_has_it(monkeypatch):
    import training.train as train_module

    assert resolve_precision("fp32", CPU) == "fp32" and resolve_precision("bf16", CPU) == "bf16"
    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(train_module, "native_bf16", lambda device, native=native: native)
        assert resolve_precision("auto", CPU) == expected
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp16", CPU)


def test_hacker_weight_weighs_the_hacker_class_in_training_and_validation_loss():
    assert class_weights(TrainConfig(hacker_weight=3.0), CPU).tolist() == [3.0, 1.0]  # hacker, normal
    torch.manual_seed(0)
    model = build_model("small_cnn").eval()
    spec = TrainConfig(height=40, width=64).input_spec
    pixels = np.random.default_rng(3).integers(0, 256, size=(6, 40, 64, 3), dtype=np.uint8)
    labels = np.array([0, 0, 1, 1, 1, 1])
    x, y = to_tensor(pixels, spec, CPU), torch.from_numpy(labels)
    with torch.no_grad():
        each = torch.nn.functional.cross_entropy(model(x), y, reduction="none")
    weights = torch.tensor([3.0, 3.0, 1.0, 1.0, 1.0, 1.0])
    expected = float((each * weights).sum() / weights.sum())  # a weighted mean per chart
    loss, _, _ = _evaluate(model, pixels, labels, spec, CPU, 4, weight=torch.tensor([3.0, 1.0]))
    assert loss == pytest.approx(expected, rel=1e-5)
    plain, _, _ = _evaluate(model, pixels, labels, spec, CPU, 4)
    assert plain == pytest.approx(float(each.mean()), rel=1e-5) and plain != pytest.approx(loss)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.0)  # a step that leaves the weights
    assert train_step(model, optimiser, x, y, "fp32", torch.tensor([3.0, 1.0])) == pytest.approx(
        expected, rel=1e-5
    )


def test_a_bf16_step_computes_the_float32_loss_closely():
    torch.manual_seed(0)
    model = build_model("small_cnn").eval()  # eval: the same batch statistics in both passes
    pixels = np.random.default_rng(4).integers(0, 256, size=(4, 40, 64, 3), dtype=np.uint8)
    x = to_tensor(pixels, TrainConfig().input_spec, CPU, torch.channels_last)
    y = torch.tensor([0, 1, 0, 1])
    optimiser = torch.optim.SGD(model.parameters(), lr=0.0)
    full, half = train_step(model, optimiser, x, y, "fp32"), train_step(model, optimiser, x, y, "bf16")
    assert half != full and half == pytest.approx(full, rel=0.05)


def test_a_hacker_weight_must_be_positive(tmp_path):
    from training.train import train

    with pytest.raises(ValueError, match="hacker_weight must be positive"):
        train(tmp_path, tmp_path / "out", TrainConfig(hacker_weight=0.0))
