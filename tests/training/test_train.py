"""Training-time augmentation keeps what identifies a thief: every bar's column of dots."""

from __future__ import annotations

import numpy as np

from training.train import roll_columns


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
