"""The training loop: one `model.fit` call per epoch, so each epoch is reseeded from (seed, epoch)
and a resumed run trains the remaining epochs to the same values as an unbroken one.

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


def fit(prep: Prepared, state: checkpoint.State, callbacks: list[Any], stop: StopRequest) -> None:
    """Train from `state.epoch` to the config's epochs (or early stopping); `state` follows along."""
    from nnctl.engine.callbacks import Stop

    cfg, data, model = prep.cfg, prep.data, prep.model
    val = pipeline.dataset(data.val, cfg.batch_size) if data.val else None
    weights = class_weights(cfg, data.train.y)
    for epoch in range(state.epoch, state.epoch if state.stopped_early else cfg.epochs):
        shuffle_seed = checkpoint.reseed(model, cfg.seed, epoch)
        train = pipeline.dataset(data.train, cfg.batch_size, shuffle_seed if cfg.shuffle else None)
        # shuffle=False: the dataset is shuffled by its own seed; Keras' flag would only warn on it
        model.fit(train, validation_data=val, initial_epoch=epoch, epochs=epoch + 1, callbacks=callbacks,
                  class_weight=weights, verbose=0, shuffle=False)
        if stop:  # asked between the epoch's last batch and its end: the epoch is saved, then stop
            raise Stop(stop.signal)
        if state.stopped_early:
            break


def callbacks(prep: Prepared, state: checkpoint.State, record: Record, reporter: Reporter, clock: Clock,
              stop: StopRequest, run: RunFolder | None, board: Any = None, tracker: Any = None,
              pruning: Any = None) -> list[Any]:
    """The loop's callbacks in the order they run; `run` None (a non-chief worker) writes nothing."""
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
        chosen += [cb.Checkpoint(run, monitor),
                   cb.Recorder(run, record, state, clock, lambda epochs: throughput(watch, n, batch, epochs, flops))]
        if board is not None:
            chosen.append(cb.EachEpoch(board.epoch))
        if tracker is not None:
            chosen.append(cb.EachEpoch(tracker.epoch))
    chosen.append(cb.EpochLine(reporter))
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
