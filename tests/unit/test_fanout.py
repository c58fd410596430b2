"""scoring.fanout: calls side by side, results in order, failures after every call has ended."""

from __future__ import annotations

import threading
import time

import pytest

from scoring.fanout import MAX_WORKERS, fan_out


def test_calls_run_side_by_side_and_results_keep_their_order():
    # Each call waits until all have started: run one after another, the barrier would break.
    barrier = threading.Barrier(3, timeout=5)

    def call(n: int) -> int:
        barrier.wait()
        return n * n

    assert fan_out(call, [3, 1, 2]) == [9, 1, 4]


def test_one_item_runs_in_the_callers_thread():
    assert fan_out(lambda _: threading.current_thread(), ["x"]) == [threading.current_thread()]


def test_a_failure_is_raised_after_the_other_calls_have_ended():
    finished: list[int] = []

    def call(n: int) -> int:
        if n == 0:
            raise ValueError("first fails")
        time.sleep(0.05)
        finished.append(n)
        return n

    with pytest.raises(ValueError, match="first fails"):
        fan_out(call, list(range(MAX_WORKERS)))
    assert sorted(finished) == list(range(1, MAX_WORKERS))


def test_a_fan_out_inside_a_fan_out_runs_inline_instead_of_waiting_on_a_full_pool():
    def outer(n: int) -> list[int]:
        return fan_out(lambda m: n * 10 + m, [1, 2])

    assert fan_out(outer, list(range(MAX_WORKERS + 2))) == [
        [n * 10 + 1, n * 10 + 2] for n in range(MAX_WORKERS + 2)
    ]
