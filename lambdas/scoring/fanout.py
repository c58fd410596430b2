"""Calls to AWS for several symbols at once: one account's klines queries, endpoint calls and
evidence puts wait on the network side by side instead of one after another.

One small pool per process (the function keeps it across warm invocations). boto3's low-level
clients are thread-safe. A single item, or a call made from one of the pool's own threads (which
would otherwise wait on a pool it fills), runs in the caller's thread; the first failure is
raised as it would be sequentially, after every call has ended.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Callable, Optional, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 4  # more symbols than this in a day queue up; the endpoint is shared by every function
_pool: Optional[ThreadPoolExecutor] = None
_pool_lock = threading.Lock()
_local = threading.local()


def _mark_pool_thread() -> None:
    _local.in_pool = True


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=MAX_WORKERS, thread_name_prefix="scoring-io", initializer=_mark_pool_thread
            )
        return _pool


def fan_out(call: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """[call(item) for item in items], concurrently; results in the order of `items`."""
    if len(items) <= 1 or getattr(_local, "in_pool", False):
        return [call(item) for item in items]
    futures = [_shared_pool().submit(call, item) for item in items]
    wait(futures)  # no call is left running behind a failure
    return [future.result() for future in futures]
