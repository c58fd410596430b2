"""SIGINT and SIGTERM as an event: how each process of the local stack learns to stop cleanly."""

from __future__ import annotations

import signal
import threading
from typing import Any


def stop_event_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM (installed for this process; call from the main thread)."""
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stopping
