"""The LSTM forecaster: a small PyTorch LSTM learns the series' own past and predicts each next point.

Training is causal: the model first learns from the learning period alone, then, every
`RETRAIN_POINTS` points, goes on learning (warm-started) from everything seen so far. Between two
trainings the fixed model predicts each point from the `CONTEXT` points before it. The forecast
error is standardised by the spread of the earlier errors, so the band widens with the series' noise.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from anomalies.timeseries import Detection, Series

CONTEXT = 32  # points of history the model sees for one prediction
HIDDEN = 24
RETRAIN_POINTS = 1000
TRAIN_WINDOWS = 3000  # the most recent training examples used in one training round
EPOCHS_FIRST, EPOCHS_LATER = 12, 4
BATCH = 128
LEARNING_RATE = 0.01
SEED = 0
# The error spread comes from this many earlier errors.
ERROR_HISTORY = 2000
MAD_TO_SIGMA = 1.4826
# An error of this many spreads is anomalous (score 0.5); after an alarm the detector holds its
# peace for HOLD_STEPS steps, so that one incident raises one alarm.
Z_DECISION = 8.0
HOLD_STEPS = 100


class NextPointLSTM(nn.Module):
    """Standardised values (and the time of day as a sine and cosine) -> the next standardised value."""

    def __init__(self, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size=3, hidden_size=hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        output, _ = self.lstm(windows)
        return self.head(output[:, -1, :]).squeeze(-1)


def standardiser(values: np.ndarray) -> tuple[float, float]:
    """Centre and spread of the learning period (robust, never zero)."""
    centre = float(np.median(values))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(values - centre)))
    if spread <= 0:
        spread = float(np.std(values)) or 1.0
    return centre, spread


def features(series: Series, centre: float, spread: float) -> np.ndarray:
    """Per point: the standardised value (clipped, so one outlier cannot blow up training) and time of day."""
    phase = 2 * math.pi * (series.seconds % 86_400.0) / 86_400.0
    scaled = np.clip((series.values - centre) / spread, -20.0, 20.0)
    return np.stack([scaled, np.sin(phase), np.cos(phase)], axis=1).astype(np.float32)


def windows_before(inputs: np.ndarray, targets: range) -> torch.Tensor:
    """For each target index t, the CONTEXT rows before it (t must be >= CONTEXT)."""
    index = np.asarray(targets)[:, None] + np.arange(-CONTEXT, 0)[None, :]
    return torch.from_numpy(inputs[index])


def train(
    model: NextPointLSTM, inputs: np.ndarray, end: int, epochs: int, generator: torch.Generator
) -> None:
    """Fit on the examples whose target lies before `end` (the most recent TRAIN_WINDOWS of them)."""
    targets = range(max(CONTEXT, end - TRAIN_WINDOWS), end)
    if len(targets) < BATCH // 4:
        return
    x = windows_before(inputs, targets)
    y = torch.from_numpy(inputs[np.asarray(targets), 0])
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), BATCH):
            batch = order[start : start + BATCH]
            optimiser.zero_grad()
            loss = nn.functional.smooth_l1_loss(model(x[batch]), y[batch])
            loss.backward()
            optimiser.step()


def forecast(series: Series) -> np.ndarray:
    """The model's prediction of every point from the points before it (nan for the first CONTEXT)."""
    # so small a model trains fastest on one thread; more threads only contend on a shared machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _forecast(series)
    finally:
        torch.set_num_threads(threads)


def _forecast(series: Series) -> np.ndarray:
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    centre, spread = standardiser(series.values[: series.learning])
    inputs = features(series, centre, spread)
    model = NextPointLSTM()
    predicted = np.full(len(series), np.nan)
    # predictions in [start, stop) come from a model trained on points before `start` only
    train(model, inputs, series.learning, EPOCHS_FIRST, generator)
    start, stop = CONTEXT, max(series.learning, CONTEXT)
    while start < len(series):
        model.eval()
        with torch.no_grad():
            predicted[start:stop] = model(windows_before(inputs, range(start, stop))).numpy()
        start, stop = stop, min(len(series), stop + RETRAIN_POINTS)
        if start < len(series) and start > series.learning:
            train(model, inputs, start, EPOCHS_LATER, generator)
    return centre + spread * predicted


def standardised_errors(values: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each point's forecast error over the spread of the errors before it; and that spread."""
    error = values - predicted
    count = len(values)
    scale = np.full(count, np.nan)
    finite = np.isfinite(error)
    for index in range(count):
        past = error[max(0, index - ERROR_HISTORY) : index]
        past = past[finite[max(0, index - ERROR_HISTORY) : index]]
        if len(past) >= 8:
            scale[index] = MAD_TO_SIGMA * float(np.median(np.abs(past - np.median(past))))
    floor = 1e-6 * (1.0 + float(np.median(np.abs(values))))
    scale = np.maximum(np.nan_to_num(scale, nan=np.inf), floor)
    z = np.nan_to_num(np.abs(error) / scale, nan=0.0)
    return z, scale


def detect_lstm(series: Series) -> Detection:
    """Alarm where the forecast error reaches Z_DECISION spreads; then stay quiet for HOLD_STEPS steps."""
    predicted = forecast(series)
    z, scale = standardised_errors(series.values, predicted)
    score = z / (z + Z_DECISION)
    is_anomaly = np.zeros(len(series), dtype=bool)
    quiet_until = -np.inf
    for index in range(series.learning, len(series)):
        if series.seconds[index] < quiet_until:
            score[index] = 0.0
        elif z[index] >= Z_DECISION:
            is_anomaly[index] = True
            quiet_until = series.seconds[index] + HOLD_STEPS * series.step
    return Detection(
        score=score,
        is_anomaly=is_anomaly,
        expected=predicted,
        lower=predicted - Z_DECISION * scale,
        upper=predicted + Z_DECISION * scale,
    )
