"""The training loop: one `model.fit` call for every epoch still to train. Each epoch is reseeded
from (seed, epoch) as it begins (its shuffle order, its dropout and augmentation draws), so a
resumed run trains the remaining epochs to the same values as an unbroken one.

What an epoch does besides training (the early-stopping count, checkpoint, history.csv,
metrics.json, TensorBoard, MLflow, progress) is a Keras callback from `nnctl.engine.callbacks`;
`callbacks` picks them, the writing ones for the chief only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from nnctl.data import pipeline
from nnctl.engine import checkpoint
from nnctl.engine.prepare import Prepared, class_weights
from nnctl.engine.reporter import Reporter
from nnctl.engine.signals import StopRequest
from nnctl.run.background_writes import Behind
from nnctl.run.folder import RunFolder
from nnctl.run.record import Record


@dataclass
class Clock:
    """Training time over every session of a run: the earlier sessions' plus this one's."""

    before: float = 0.0
    began: float = 0.0

    def __post_init__(self) -> None:
        self.began = time.time()

    def __call__(self) -> float:
        return round(self.before + time.time() - self.began, 3)


def fit(prep: Prepared, state: checkpoint.State, callbacks: list[Any]) -> None:
    """Train from `state.epoch` to the config's epochs (or early stopping); `state` follows along.

    One `fit` call for all the epochs left, over one dataset of them all, where Keras' compiled calls
    (`steps_per_execution` batches each) end where the epochs end; else one call per epoch, since a
    call running past an epoch's end would take the next epoch's first batches. A call per epoch
    rebuilt the datasets, their iterators and Keras' set-up each time: 60 ms of a small table's epoch,
    which now takes 22 ms in all (benchmarks/README.md, "Small tables"). A stop request ends the
    call from the callbacks (`EpochEnd` after an epoch, `Batches` mid-epoch)."""
    from nnctl.engine.callbacks import Checkpoint, Reseed, Stop

    cfg, data, model = prep.cfg, prep.data, prep.model
    if state.stopped_early:
        return
    per_epoch = steps(prep)
    span = cfg.epochs - state.epoch if per_epoch % int(model.steps_per_execution) == 0 else 1
    val = pipeline.dataset(data.val, cfg.batch_size, reused=True) if data.val else None
    for first in range(state.epoch, cfg.epochs, max(span, 1)):
        epochs = range(first, min(first + span, cfg.epochs))
        seeds = [checkpoint.epoch_seed(cfg.seed, e) for e in epochs] if cfg.shuffle else None
        train = pipeline.dataset(data.train, cfg.batch_size, seeds, len(epochs))
        try:
            # shuffle=False: the dataset shuffles itself, by each epoch's seed; Keras' flag would only warn
            model.fit(train, validation_data=val, initial_epoch=first, epochs=epochs.stop, steps_per_epoch=per_epoch,
                      callbacks=[Reseed(cfg.seed), *callbacks], class_weight=class_weights(cfg, data.train.y),
                      verbose=0, shuffle=False)
        except Stop:
            for c in callbacks:
                if isinstance(c, Checkpoint):  # the newest complete epoch, held in memory, is written
                    c.interrupted()
            raise
        if state.stopped_early:
            return


def callbacks(prep: Prepared, state: checkpoint.State, record: Record, reporter: Reporter, clock: Clock,
              stop: StopRequest, run: RunFolder | None, board: Any = None, tracker: Any = None,
              pruning: Any = None, behind: Behind | None = None) -> list[Any]:
    """The loop's callbacks in the order they run; `run` None (a non-chief worker) writes nothing.
    `behind`: where the per-epoch files are written (the caller drains it)."""
    from nnctl.engine import callbacks as cb

    watch = cb.Batches(reporter, steps(prep))
    watch.stop = stop
    monitor = cb.Monitor(state, prep.cfg.early_stopping)
    chosen: list[Any] = [watch, monitor]
    if pruning is not None:  # before the checkpoint, so that a pruned point's stop is saved with it
        chosen.append(pruning)
    if run is not None:
        flops = prep.flops
        n, batch = len(prep.data.train), prep.cfg.batch_size
        behind = behind or Behind()
        chosen += [cb.Checkpoint(run, monitor, prep.cfg.checkpoint_every, prep.cfg.epochs, stop),
                   cb.Recorder(run, record, state, clock, lambda epochs: throughput(watch, n, batch, epochs, flops),
                               behind)]
        if board is not None:
            chosen.append(cb.EachEpoch(board.epoch, behind))
        if tracker is not None:
            chosen.append(cb.EachEpoch(tracker.epoch, behind))
    chosen += [cb.EpochLine(reporter), cb.EpochEnd(state, stop)]
    return chosen


def steps(prep: Prepared) -> int:
    """Batches per epoch."""
    return math.ceil(len(prep.data.train) / prep.cfg.batch_size)


def throughput(watch: Any, n_train: int, batch_size: int, epochs: int, flops: int | None) -> dict[str, Any]:
    """Training speed of this process's epochs: examples/s over the batches' wall time (no validation),
    leaving out the first compiled call, which traces the training function (`first_call_s`)."""
    seconds, examples = watch.train_seconds, epochs * n_train
    first_s = None
    if watch.first_call is not None:
        first_s, first_batches = watch.first_call
        first_examples = min(first_batches * batch_size, n_train)
        if seconds - first_s > 0 and examples - first_examples > 0:  # else one call was all there was
            seconds, examples = seconds - first_s, examples - first_examples
    per_s = examples / seconds if seconds > 0 else None
    return {"train_examples_per_s": round(per_s, 1) if per_s else None,
            "train_flops_per_example": flops,
            "train_flop_per_s": round(per_s * flops) if per_s and flops else None,
            "first_call_s": round(first_s, 3) if first_s is not None else None}
