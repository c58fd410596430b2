"""The trainer's batch path: augmentation keeps what identifies a thief (every bar's column of
dots), the tensor is the serving module's, and the loss weighs and computes as configured."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from training.models import ARCHITECTURES, build_model  # noqa: E402
from training.pipeline import profile_config  # noqa: E402
from training.serving.inference import normalise  # noqa: E402
from training.train import (  # noqa: E402
    TrainConfig,
    _evaluate,
    augment,
    class_weights,
    resolve_precision,
    roll_columns,
    to_tensor,
    train_step,
)


def config(**settings) -> TrainConfig:
    """The quick profile's recipe with `settings` on top."""
    return profile_config("quick", **settings)


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
    assert np.array_equal(augment(batch, config(flip_time=True, roll_time=True), rng), expected)
    assert rng.random() == reference_rng.random()  # and the stream goes on where it did


def test_augment_changes_nothing_unless_asked_and_never_writes_to_its_input():
    batch = np.random.default_rng(2).integers(0, 256, size=(8, 5, 9, 3), dtype=np.uint8)
    before = batch.copy()
    assert np.array_equal(
        augment(batch, config(flip_time=False, roll_time=False), np.random.default_rng(0)), batch
    )
    rolled = augment(batch, config(flip_time=True, roll_time=True), np.random.default_rng(0))
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
    assert class_weights(config(hacker_weight=3.0), CPU).tolist() == [3.0, 1.0]  # hacker, normal
    torch.manual_seed(0)
    model = build_model("small_cnn").eval()
    spec = config(height=40, width=64).input_spec
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
    x = to_tensor(pixels, config().input_spec, CPU, torch.channels_last)
    y = torch.tensor([0, 1, 0, 1])
    optimiser = torch.optim.SGD(model.parameters(), lr=0.0)
    full, half = train_step(model, optimiser, x, y, "fp32"), train_step(model, optimiser, x, y, "bf16")
    assert half != full and half == pytest.approx(full, rel=0.05)


def test_a_hacker_weight_must_be_positive(tmp_path):
    from training.train import train

    with pytest.raises(ValueError, match="hacker_weight must be positive"):
        train(tmp_path, tmp_path / "out", config(hacker_weight=0.0))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_architecture_maps_a_chart_batch_to_two_logits(architecture):
    network = build_model(architecture).eval()
    with torch.no_grad():
        assert network(torch.zeros(2, 3, 40, 250)).shape == (2, 2)
