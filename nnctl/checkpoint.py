"""Checkpoints in the run folder, so that a killed run resumes exactly where its last epoch ended.

    checkpoints/epoch-N.keras  model and optimizer state after epoch N (only the newest is kept)
    checkpoints/best.keras     the best epoch so far by the monitored metric
    checkpoints/state.json     history, early-stopping counters and the name of the newest
                               epoch file: written last, it is the commit point

A kill between writing a model file and state.json leaves state.json naming the
previous file, which is still there: weights are never paired with the wrong epoch.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import runs
from .errors import TrainingFailed
from .reports import higher_is_better

FOLDER = "checkpoints"
STATE = "state.json"
BEST = "best.keras"


@dataclass
class State:
    """Where training stands after `epoch` complete epochs; enough to continue it exactly."""

    monitor: str
    mode: str  # "min" or "max"
    epoch: int = 0
    iterations: int = 0  # optimizer steps taken: checked after a restore
    history: list[dict[str, float]] = field(default_factory=list)
    best: float | None = None
    best_epoch: int | None = None
    wait: int = 0  # epochs since the monitored value last improved
    stopped_early: bool = False
    last: str | None = None  # the newest epoch file

    @classmethod
    def start(cls, monitor: str, mode: str = "auto") -> State:
        if mode == "auto":
            mode = "max" if higher_is_better(monitor) else "min"
        return cls(monitor=monitor, mode=mode)

    def record(self, logs: dict[str, float], iterations: int, min_delta: float = 0.0) -> bool:
        """Add an epoch's logs; True when the monitored value improved (as Keras' EarlyStopping counts it)."""
        self.history.append(logs)
        self.epoch += 1
        self.iterations = iterations
        value = logs.get(self.monitor)
        if value is None:
            return False
        if self.best is None:
            better = True
        elif self.mode == "max":
            better = value - min_delta > self.best
        else:
            better = value + min_delta < self.best
        if better:
            self.best, self.best_epoch, self.wait = value, self.epoch, 0
            return True
        self.wait += 1
        return False


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A seed for (run seed, epoch): the same epoch draws the same numbers in a resumed run."""
    digest = hashlib.sha256(f"{seed}:{epoch}:{stream}".encode()).digest()
    return int.from_bytes(digest[:4], "little") >> 1


def reseed(model: Any, seed: int, epoch: int) -> int:
    """Reseed the epoch's random sources; returns the epoch's shuffle seed.

    Dropout, noise and augmentation layers draw from seed generators whose state a
    checkpoint does not pin down (Keras' BackupAndRestore has the same gap), so each
    gets a state derived from (seed, epoch) instead of whatever the previous epoch left.
    Not keras.utils.set_random_seed: its tf.random.set_seed clears TensorFlow's kernel
    cache, so every epoch re-instantiated and re-optimised the compiled train and test
    functions (0.3 s per epoch for a small LSTM). Training draws no unseeded TF randoms.
    """
    s = epoch_seed(seed, epoch)
    random.seed(s)
    np.random.seed(s)
    gens = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    for i, v in enumerate(gens, 1):
        v.assign(np.array([epoch_seed(seed, epoch, i), 0], dtype=v.dtype))
    return s


def save(run: Path, model: Any, state: State, improved: bool) -> None:
    folder = run / FOLDER
    folder.mkdir(exist_ok=True)
    name = f"epoch-{state.epoch}.keras"
    save_model(model, folder / name)
    if improved:
        _copy_atomic(folder / name, folder / BEST)
    state.last = name
    runs.write_json(folder / STATE, asdict(state))
    for old in folder.glob("epoch-*.keras"):
        if old.name != name:
            old.unlink(missing_ok=True)


def load(run: Path) -> State | None:
    """The committed state, or None where no epoch finished (the run starts over, in the same folder)."""
    raw = runs.read_json(run / FOLDER / STATE)
    if raw is None:
        return None
    try:
        return State(**raw)
    except TypeError:
        raise TrainingFailed(f"{run / FOLDER / STATE} is not a checkpoint state this nnctl can read") from None


def restore(run: Path, model: Any, state: State) -> None:
    """Weights and optimizer state of the last complete epoch into the freshly built model."""
    path = run / FOLDER / (state.last or "")
    if not state.last or not path.is_file():
        raise TrainingFailed(f"checkpoint {path} is missing; the run cannot resume exactly")
    model.optimizer.build(model.trainable_variables)  # Keras skips optimizer variables it has not built
    model.load_weights(path)
    if int(model.optimizer.iterations.numpy()) != state.iterations:
        raise TrainingFailed(f"checkpoint {path} restored {int(model.optimizer.iterations.numpy())} optimizer steps, "
                             f"expected {state.iterations}; the run cannot resume exactly")


def restore_best(run: Path, model: Any) -> None:
    path = run / FOLDER / BEST
    if path.is_file():
        model.load_weights(path)


def save_model(model: Any, path: Path) -> None:
    """model.save to a temp file, fsync, rename (Keras insists on the .keras suffix, so the temp has it too)."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        _fsync(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _copy_atomic(src: Path, dst: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, runs.FILE_MODE)
        _fsync(Path(tmp))
        os.replace(tmp, dst)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
