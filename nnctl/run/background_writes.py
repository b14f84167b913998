"""Writes that trail training: history.csv, metrics.json, TensorBoard's and MLflow's scalars after
each epoch are done by one background thread, so that a small table's epoch (10 ms of arithmetic)
does not wait on their fsyncs (5 ms an epoch, measured by benchmarks/epoch_profile.py).

Jobs run in the order given. A job with a `key` replaces the one of that key still waiting: only the
newest metrics.json matters. `drain` waits for all of them and raises what one raised, so an error
(a full disk) still ends the run; the loop drains before it writes anything itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Behind:
    def __init__(self) -> None:
        self._jobs: list[tuple[str | None, Callable[[], Any]]] = []
        self._busy = False
        self._error: BaseException | None = None
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, job: Callable[[], Any], key: str | None = None) -> None:
        with self._cv:
            self._raise()
            if key is not None:
                self._jobs = [(k, j) for k, j in self._jobs if k != key]
            self._jobs.append((key, job))
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="nnctl-behind", daemon=True)
                self._thread.start()
            self._cv.notify_all()

    def drain(self, quiet: bool = False) -> None:
        """Wait until every job has run; raise the first error one raised (`quiet`: forget it, for a
        run that is ending on an error of its own)."""
        with self._cv:
            self._cv.wait_for(lambda: not self._jobs and not self._busy)
            if quiet:
                self._error = None
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _work(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: bool(self._jobs))
                _, job = self._jobs.pop(0)
                self._busy = True
            try:
                job()
            except BaseException as e:  # noqa: BLE001  (handed to the training thread at its next call)
                with self._cv:
                    self._error = self._error or e
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()
