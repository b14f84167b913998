"""Graceful stop: the first Ctrl-C or SIGTERM asks training to stop after the current batch.

A second signal raises KeyboardInterrupt at once; every file in the run folder is
written atomically, so even then what is on disk parses.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time
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


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Have this process sent `sig` when the process that started it dies, even by SIGKILL: Linux's
    PR_SET_PDEATHSIG, and a watchdog thread for the rest (and for a parent that died before this
    call). A sweep's worker gets SIGTERM (its point stops at the batch and ends interrupted)."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), sig)

    threading.Thread(target=watch, name="nnctl-parent-watch", daemon=True).start()
