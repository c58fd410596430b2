"""The invocation's time budget: a step of a withdrawal starts only if its worst case fits.

Lambda ends an invocation at its timeout and the batch's partial response is lost with it: every
message of the batch comes back, and after MAX_RECEIVE_COUNT such timeouts all of them are
dead-lettered. So before each step the decision asks whether the step's worst case (the clients'
attempts x (connect + read timeout) + back-off, scoring.clients) still fits in the time Lambda's
context says is left; if not, the withdrawal fails now as a batch item failure (OutOfTime) and is
redelivered, and the ones already decided keep their outcome.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

from botocore.config import Config

from scoring.errors import OutOfTime

# What is left for Powertools to flush its metrics and return the partial response.
RESPONSE_RESERVE_SECONDS = 2.0
# botocore's standard retry mode waits at most this long between two attempts.
MAX_BACKOFF_SECONDS = 20.0


def worst_case_seconds(config: Config) -> float:
    """The longest one API call of a client with this configuration can take before it fails."""
    attempts = int((config.retries or {}).get("total_max_attempts", 3))
    per_attempt = float(config.connect_timeout) + float(config.read_timeout)
    # Standard mode waits up to 2 ** (n - 1) s (jittered, capped) after the n-th failed attempt.
    backoff = sum(min(MAX_BACKOFF_SECONDS, 2.0**retry) for retry in range(attempts - 1))
    return attempts * per_attempt + backoff


class TimeBudget:
    """`require(step)` raises OutOfTime unless the step's worst case fits in the time left.

    `steps` maps a step's name to its worst case in seconds; a step made of `rounds` calls one
    after another (more symbols than the fan-out runs at once) needs as many times that.
    """

    def __init__(
        self,
        remaining_ms: Callable[[], int],
        steps: Mapping[str, float],
        *,
        reserve_seconds: float = RESPONSE_RESERVE_SECONDS,
    ):
        self._remaining_ms = remaining_ms
        self._steps = dict(steps)
        self._reserve = reserve_seconds

    def seconds_left(self) -> float:
        return self._remaining_ms() / 1000.0

    def require(self, step: str, rounds: int = 1) -> None:
        needed = self._steps[step] * max(1, rounds) + self._reserve
        left = self.seconds_left()
        if left < needed:
            raise OutOfTime(
                f"{left:.1f} s left of the invocation; {step} may take up to {needed:.1f} s: "
                "failed now to be redelivered"
            )


def rounds_of(calls: int, at_once: int) -> int:
    """How many rounds `calls` calls take when `at_once` run side by side."""
    return max(1, math.ceil(calls / at_once))
