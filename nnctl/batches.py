"""The per-batch Keras callback of a training run: progress out, non-finite losses and stop requests in.

Its own module because it subclasses a Keras class: importing it imports TensorFlow, which
`nnctl.train` itself must not do at import time (data loads while TensorFlow imports).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from .tf import keras

if TYPE_CHECKING:
    from .stopping import StopRequest
    from .train import Reporter

K = keras()


class Stop(Exception):
    """A stop was requested by a signal; raised between batches, so the batch in flight finishes."""


class NonFinite(Exception):
    pass


class Batches(K.callbacks.Callback):
    """Per compiled call (`steps_per_execution` batches): progress out to the reporter,
    non-finite losses and stop requests caught."""

    def __init__(self, reporter: Reporter, steps: int) -> None:
        super().__init__()
        self.reporter, self.steps = reporter, steps
        self.stop: StopRequest | None = None
        self._epoch = 0
        self._first: float | None = None
        self._last = 0.0
        self.train_seconds = 0.0  # first batch start to last batch end, summed over epochs
        self.first_call: tuple[float, int] | None = None  # (seconds, batches) of the call that traced

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch + 1
        self._first = None

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self._first is None:
            self._first = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._first is not None:
            self.train_seconds += self._last - self._first

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._last = time.perf_counter()
        if self.first_call is None and self._first is not None:  # Keras passes the call's last batch index
            self.first_call = (self._last - self._first, batch + 1)
        values = _floats(logs)
        if not all(math.isfinite(v) for v in values.values()):
            raise NonFinite(f"non-finite loss in epoch {self._epoch} by batch {batch + 1}: "
                            "try a lower learning rate or scale the inputs")
        self.reporter.batch(self._epoch, batch + 1, values)
        if self.stop:
            raise Stop(self.stop.signal)

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.stop:
            raise Stop(self.stop.signal)


def _floats(logs: dict[str, Any] | None) -> dict[str, float]:
    return {k: float(v) for k, v in (logs or {}).items()}
