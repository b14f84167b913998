"""Checkpoints in the run folder, so that a killed run resumes exactly where its last epoch ended.

    checkpoints/epoch-N.keras  model and optimizer state after epoch N (the newest two are kept;
                               which epochs are written: `Saver`, the config's checkpoint_every)
    checkpoints/epoch-N.json   the State after epoch N: written once epoch-N.keras is verified
    checkpoints/best.keras     the best epoch so far by the monitored metric
    checkpoints/state.json     the newest State, written last: the commit point

A kill between writing a model file and its state leaves the previous pair, which is still
there (or none, for the first: the run starts over): weights are never paired with the wrong
epoch. A pair damaged later (a full disk, a copy cut short) is skipped on resume for the one
before it, whose later epochs are trained again, to the same values, since every epoch is
reseeded from (seed, epoch).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.directions import direction
from nnctl.errors import TrainingFailed, UserError, one_line
from nnctl.model import saved
from nnctl.run import folder as runs

FOLDER = runs.CHECKPOINTS
STATE = "state.json"
BEST = "best.keras"
KEEP = 2  # epoch checkpoints kept: the newest may be damaged after it was written
_EPOCH = re.compile(r"epoch-(\d+)\.keras")


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
    def start(cls, monitor: str, mode: str = "auto", directions: dict[str, str] | None = None) -> State:
        """`directions`: each metric's Keras direction ("max"/"min"), as EarlyStopping's auto mode reads it."""
        if mode == "auto":
            mode = direction(monitor, directions)
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


def reseed(model: Any, seed: int, epoch: int) -> None:
    """Reseed the epoch's random sources (the shuffle order: `pipeline.dataset`, from epoch_seed too).

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


def save(run: Path, model: Any, state: State, improved: bool, best: list[np.ndarray] | None = None) -> None:
    """Write epoch `state.epoch`: its model file, verified; best.keras when the epoch improved (or, from
    `best`, the values of an earlier improving epoch that was held in memory); its state; the commit."""
    folder = run / FOLDER
    folder.mkdir(exist_ok=True)
    name = f"epoch-{state.epoch}.keras"
    save_model(model, folder / name)
    reason = saved.damage(folder / name)
    if reason is not None:  # a full disk can leave a short file that renamed fine
        raise TrainingFailed(f"checkpoint {folder / name} was written {reason}; is the disk full?")
    state.last = name
    if improved:
        _copy_atomic(folder / name, folder / BEST)
    elif best is not None:
        with held(model, best):
            save_model(model, folder / BEST)
    runs.write_json(folder / f"epoch-{state.epoch}.json", asdict(state))
    runs.write_json(folder / STATE, asdict(state))
    for n in sorted(_epochs(folder))[:-KEEP]:
        (folder / f"epoch-{n}.keras").unlink(missing_ok=True)
        (folder / f"epoch-{n}.json").unlink(missing_ok=True)


class Saver:
    """When a checkpoint is written: after every epoch (`every` None), or once `every` seconds have
    passed since the last one; always after the last epoch. An epoch not written is held in memory
    (its weights and optimizer state: a copy, cheap for the small models whose epochs are short), so
    that a stop mid-epoch (Ctrl-C, SIGTERM) still writes the newest whole epoch, and best.keras gets
    the best epoch's weights even when that epoch was not written."""

    def __init__(self, run: Path, every: float | None) -> None:
        self.run, self.every = run, every
        self.last = time.monotonic()
        self.held: list[np.ndarray] | None = None  # the newest complete epoch, not yet written
        self.best: list[np.ndarray] | None = None  # the best epoch's values, when it was not written
        self.written = 0

    def epoch_end(self, model: Any, state: State, improved: bool, final: bool) -> None:
        if final or self.every is None or time.monotonic() - self.last >= self.every:
            self._write(model, state, improved)
            return
        self.held = values(model)
        if improved:
            self.best = self.held

    def flush(self, model: Any, state: State) -> None:
        """On a stop mid-epoch: the newest complete epoch, if only held, is written now."""
        if self.held is None:
            return
        with held(model, self.held):
            self._write(model, state, improved=self.best is self.held)

    def _write(self, model: Any, state: State, improved: bool) -> None:
        save(self.run, model, state, improved, None if improved else self.best)
        self.held = self.best = None
        self.last = time.monotonic()
        self.written += 1


def _variables(model: Any) -> list[Any]:
    return [*model.variables, *model.optimizer.variables]


def values(model: Any) -> list[np.ndarray]:
    """The model's and its optimizer's variables, copied out."""
    return [np.array(v.numpy(), copy=True) for v in _variables(model)]


@contextlib.contextmanager
def held(model: Any, stored: list[np.ndarray]) -> Iterator[None]:
    """The model holds `stored` inside the block, and its own values again after it."""
    now = values(model)
    for v, a in zip(_variables(model), stored, strict=True):
        v.assign(a)
    try:
        yield
    finally:
        for v, a in zip(_variables(model), now, strict=True):
            v.assign(a)


def _epochs(folder: Path) -> list[int]:
    return [int(m.group(1)) for p in folder.glob("epoch-*.keras") if (m := _EPOCH.fullmatch(p.name))]


def candidates(run: Path) -> tuple[list[State], list[str]]:
    """The states a resume may start from, newest first, each with an intact-looking model file;
    and a note for each one passed over. ([], []) where no epoch was ever saved."""
    folder = run / FOLDER
    states, notes = [], []
    top = _read_state(folder / STATE) if (folder / STATE).exists() else None
    for n in sorted(_epochs(folder) if folder.is_dir() else [], reverse=True):
        model_file, state_file = folder / f"epoch-{n}.keras", folder / f"epoch-{n}.json"
        if not state_file.exists() and (top is None or top.epoch < n):
            continue  # killed before this epoch's state was written: never committed, not damaged
        state = _read_state(state_file) if state_file.exists() else None
        if state is None and top is not None and top.last == model_file.name:
            state = top  # written by an nnctl that kept one pair
        reason = saved.damage(model_file) or (None if state is not None else f"without a readable {state_file.name}")
        if reason is not None:
            notes.append(f"{model_file} is {reason}: skipped")
            continue
        states.append(state)
    if not states and (folder / STATE).exists() and top is None:
        raise UserError(f"{folder / STATE} is damaged and no intact checkpoint is beside it; "
                        "the run cannot resume: start it again")
    if notes and not states:
        raise UserError(f"no intact checkpoint in {folder} ({'; '.join(notes)}); the run cannot resume: "
                        "start it again")
    return states, notes


def _read_state(path: Path) -> State | None:
    raw = runs.read_json(path)
    try:
        return State(**raw) if raw is not None else None
    except TypeError:
        return None


def restore(run: Path, model: Any, states: list[State], notes: list[str]) -> State:
    """Weights and optimizer state of the newest intact epoch into the freshly built model.

    A file whose weights cannot be read, or that restores the wrong step count, is passed
    over (noted) for the one before it."""
    model.optimizer.build(model.trainable_variables)  # Keras skips optimizer variables it has not built
    for state in states:
        path = run / FOLDER / (state.last or "")
        try:
            saved.load_weights(model, path)
        except UserError as e:
            notes.append(f"{one_line(e)}: skipped")
            continue
        steps = int(model.optimizer.iterations.numpy())
        if steps != state.iterations:
            notes.append(f"{path} restored {steps} optimizer steps, expected {state.iterations}: skipped")
            continue
        return state
    raise UserError(f"no intact checkpoint in {run / FOLDER} ({'; '.join(notes)}); the run cannot resume: "
                    "start it again")


def restore_best(run: Path, model: Any) -> bool:
    """The best epoch's weights into the model; False where best.keras is missing or damaged."""
    path = run / FOLDER / BEST
    if saved.damage(path) is not None:
        return False
    saved.load_weights(model, path)
    return True


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
