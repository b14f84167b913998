"""The side effects of a training run, as Keras callbacks: progress out, non-finite losses and
stop requests in, and after each epoch the early-stopping count, the checkpoint, history.csv,
metrics.json, TensorBoard, MLflow and the epoch's line, in that order (Keras calls them in
list order). `nnctl.engine.loop.callbacks` picks them; only the chief gets the ones that write.

Its own module because it subclasses Keras classes: importing it imports TensorFlow, which
the engine must not do at import time (data loads while TensorFlow imports).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nnctl.backend import keras
from nnctl.engine import checkpoint
from nnctl.run.background_writes import Behind
from nnctl.run.folder import RunFolder
from nnctl.run.record import Record, history_csv, validation

if TYPE_CHECKING:
    from nnctl.config import EarlyStopping
    from nnctl.engine.reporter import Reporter
    from nnctl.engine.signals import StopRequest

K = keras()


class Stop(Exception):
    """A stop was requested by a signal; raised between batches, so the batch in flight finishes."""


class NonFinite(Exception):
    pass


class Batches(K.callbacks.Callback):
    """Per compiled call (`steps_per_execution` batches): progress out to the reporter,
    non-finite losses and stop requests caught.

    Not Keras' TerminateOnNaN: it stops quietly (`stop_training`), and a non-finite loss must
    end the run as failed, with the batch and a hint, exit 1."""

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


class Monitor(K.callbacks.Callback):
    """The early-stopping count after each epoch, kept in the checkpointed `State`.

    Not Keras' EarlyStopping: its wait and best live in the callback, start again at every
    fit call and are not saved, so a resumed run would count patience from zero."""

    def __init__(self, state: checkpoint.State, es: EarlyStopping | None) -> None:
        super().__init__()
        self.state, self.es = state, es
        self.improved = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        values = _floats(logs)
        state, es = self.state, self.es
        self.improved = state.record(values, int(self.model.optimizer.iterations.numpy()), es.min_delta if es else 0.0)
        state.stopped_early = es is not None and state.wait >= es.patience


class Checkpoint(K.callbacks.Callback):
    """checkpoints/epoch-N.keras and its state, on the config's interval (`checkpoint.Saver`): after
    the last epoch, an early stop, or an epoch that ends with a stop requested, always.

    Not Keras' ModelCheckpoint or BackupAndRestore: the checkpoint must pair the weights with
    nnctl's `State` (history, early-stopping count) and verify the file, for exact resume."""

    def __init__(self, run: RunFolder, monitor: Monitor, every: float | str, epochs: int,
                 stop: StopRequest | None = None) -> None:
        super().__init__()
        self.monitor, self.epochs, self.stop = monitor, epochs, stop
        self.saver = checkpoint.Saver(run.path, None if every == "epoch" else float(every))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        state = self.monitor.state
        final = state.epoch >= self.epochs or state.stopped_early or bool(self.stop)
        self.saver.epoch_end(self.model, state, self.monitor.improved, final)

    def interrupted(self) -> None:
        """Training stopped mid-epoch on a signal: the newest complete epoch is written if it was held."""
        self.saver.flush(self.model, self.monitor.state)


class Recorder(K.callbacks.Callback):
    """history.csv and metrics.json after each epoch, written behind training (`nnctl.run.background_writes`).

    Not Keras' CSVLogger: it appends a row per epoch, so a kill between its row and the
    checkpoint leaves an epoch in history.csv that resume trains again. Here the whole file is
    rewritten atomically from the state (a resume rewrites it from the checkpoint's)."""

    def __init__(self, run: RunFolder, record: Record, state: checkpoint.State, elapsed: Callable[[], float],
                 throughput: Callable[[int], dict[str, Any]], behind: Behind) -> None:
        super().__init__()
        self.run, self.record, self.state, self.behind = run, record, state, behind
        self.elapsed, self.throughput = elapsed, throughput
        self.session_epochs = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.session_epochs += 1
        state, record, run = self.state, self.record, self.run
        record.epochs, record.best_epoch, record.duration_s = state.epoch, state.best_epoch, self.elapsed()
        record.val = validation(_floats(logs))  # the latest so far; the kept epoch's once training ends
        record.best = {"monitor": state.monitor, "value": state.best, "epoch": state.best_epoch}
        record.throughput = self.throughput(self.session_epochs)
        # The text is made here, from this epoch's values; only the writing (and its fsync) trails.
        history, metrics = history_csv(state.history), record.dump()
        self.behind.submit(lambda: run.write(run.history, history), key="history")
        self.behind.submit(lambda: run.write_json(run.metrics, metrics), key="metrics")


class EachEpoch(K.callbacks.Callback):
    """`log(epoch, values)` after each epoch, behind training, epochs counted from 1 as history.csv counts:
    TensorBoard's scalars (see `nnctl.run.tensorboard` for why not Keras' TensorBoard callback) and
    MLflow's metrics."""

    def __init__(self, log: Callable[[int, dict[str, float]], None], behind: Behind) -> None:
        super().__init__()
        self.log, self.behind = log, behind

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        values = _floats(logs)
        self.behind.submit(lambda: self.log(epoch + 1, values))


class Reseed(K.callbacks.Callback):
    """First in the list: each epoch's dropout, noise and augmentation draws from (seed, epoch) as it
    begins (`checkpoint.reseed`); the shuffle order is the dataset's own, from the same seed."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        checkpoint.reseed(self.model, self.seed, epoch)


class EpochEnd(K.callbacks.Callback):
    """Last in the list: after an early stop (or a pruned point) the loop ends; after an epoch that
    ended with a stop requested (saved by Checkpoint), the run stops."""

    def __init__(self, state: checkpoint.State, stop: StopRequest) -> None:
        super().__init__()
        self.state, self.stop = state, stop

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.stop:
            raise Stop(self.stop.signal)
        if self.state.stopped_early:
            self.model.stop_training = True


class EpochLine(K.callbacks.Callback):
    """The reporter's line per epoch, with the epoch's wall time."""

    def __init__(self, reporter: Reporter) -> None:
        super().__init__()
        self.reporter = reporter
        self.began = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.began = time.time()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.reporter.epoch(epoch + 1, _floats(logs), time.time() - self.began)
