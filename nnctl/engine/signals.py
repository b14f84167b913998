"""Graceful stop: the first Ctrl-C or SIGTERM asks training to stop after the current batch.

A second signal raises KeyboardInterrupt at once; every file in the run folder is
written atomically, so even then what is on disk parses.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class StopRequest:
    def __init__(self) -> None:
        self.signal: str | None = None  # the name of the signal that asked to stop

    def __bool__(self) -> bool:
        return self.signal is not None


@contextlib.contextmanager
def on_signals() -> Iterator[StopRequest]:
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():  # signal handlers live in the main thread
        yield request
        return

    def handler(signum: int, frame: Any) -> None:
        if request:
            raise KeyboardInterrupt
        request.signal = signal.Signals(signum).name

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
