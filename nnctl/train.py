"""Training, top to bottom: config -> data + model -> fit -> test metrics -> run folder."""

from __future__ import annotations

import csv
import io
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import __version__, keras_names, pipeline, runs, tasks
from . import data as data_mod
from . import model as model_mod
from .config import Config, dump_yaml
from .errors import Interrupted, TrainingFailed, UserError
from .tf import keras

K = keras()  # this module only runs when TensorFlow is needed anyway


class Reporter(Protocol):
    """What the CLI shows while training; the core never prints."""

    def start(self, epochs: int, steps: int) -> None: ...
    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None: ...
    def epoch(self, epoch: int, logs: dict[str, float], seconds: float) -> None: ...
    def end(self) -> None: ...


class NullReporter:
    def start(self, epochs: int, steps: int) -> None:
        pass

    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None:
        pass

    def epoch(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        pass

    def end(self) -> None:
        pass


@dataclass
class Prepared:
    """Everything checked and built, nothing trained: what `validate` stops at."""

    cfg: Config  # task, loss, metrics and input_shape filled in
    data: data_mod.Data
    model: Any
    warnings: list[str] = field(default_factory=list)

    def resolved(self) -> dict[str, Any]:
        return self.cfg.model_dump(mode="json")


def prepare(cfg: Config, config_dir: Path | None = None) -> Prepared:
    data = data_mod.load(cfg, config_dir)
    input_shape = fit_input_shape(cfg, data)
    built = model_mod.build_for(cfg, data)
    model = built.model
    labels = tasks.Labels.of(data.train.y)
    units = model_mod.output_units(built.body)
    task = cfg.task or tasks.infer_task(labels, data.regression, units)
    loss_spec = cfg.loss if cfg.loss is not None else tasks.default_loss(task, labels)
    metric_specs = cfg.metrics if cfg.metrics is not None else tasks.default_metrics(task)
    loss = keras_names.loss(loss_spec)
    metrics = [keras_names.metric(m, f"metrics.{i}") for i, m in enumerate(metric_specs)]
    optimizer = keras_names.optimizer(cfg.optimizer)
    last = f"layers.{len(cfg.layers) - 1}.{keras_names.layer_entry(cfg.layers[-1])[0]}"
    warnings = list(data.warnings)
    warnings += tasks.check(task, labels, units, model_mod.output_activation(built.body),
                            model_mod.loss_name(loss), last)
    if cfg.class_weight is not None and task not in ("classification", "binary"):
        raise UserError(f"class_weight weighs single-label classes; this is a {task} task", "class_weight")
    model_mod.adapt(built, pipeline.inputs(data.train, cfg.batch_size), cfg.batch_size)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    cfg = cfg.model_copy(update={"task": task, "loss": loss_spec, "metrics": metric_specs,
                                 "input_shape": list(input_shape),
                                 "data": data_mod.absolute_paths(cfg.data, config_dir)})
    _dry_run(model, data, cfg)
    return Prepared(cfg, data, model, warnings)


def fit_input_shape(cfg: Config, data: data_mod.Data) -> tuple[int, ...]:
    """The data's shape, or the config's where it only regroups the same values (784 <-> 28x28x1)."""
    shape = data.input_shape
    if cfg.input_shape is None or data.categorical or tuple(cfg.input_shape) == shape:
        return shape
    want = tuple(cfg.input_shape)
    if math.prod(want) != math.prod(shape):
        raise UserError(f"bad value {list(want)}: the data's examples have shape {list(shape)}",
                        "input_shape")
    for split in (data.train, data.val, data.test):
        if split is not None:
            split.x = split.x.reshape((len(split.x), *want))  # a view, also for streamed rows
    return want


def _dry_run(model: Any, data: data_mod.Data, cfg: Config) -> None:
    """One test step on two examples: label/output shape clashes surface now, not mid-training."""
    try:
        two = pipeline.dataset(data.train.take(slice(0, 2)), 2)
        logs = model.evaluate(two, verbose=0, return_dict=True)
    except Exception as e:  # noqa: BLE001  (Keras raises many types for a shape clash)
        raise UserError(f"the model's output {model.output_shape} does not fit the labels "
                        f"{data.train.y.shape[1:] or '(scalar)'} with loss {cfg.loss}: "
                        f"{keras_names.one_line(e)}", "layers") from None
    es = cfg.early_stopping
    if es is not None:
        allowed = sorted(logs) + (sorted(f"val_{k}" for k in logs) if data.val else [])
        if es.monitor not in allowed:
            raise UserError(f"bad value {es.monitor!r}: this run logs {', '.join(allowed)}"
                            f"{keras_names.did_you_mean(es.monitor, allowed)}",
                            "early_stopping.monitor")
    model.reset_metrics()


# ---------------------------------------------------------------- training


def summarize(cfg: Config, config_dir: Path | None = None) -> str:
    """The model summary of a config; reads the data only when input_shape is not given."""
    if cfg.input_shape is not None:
        return model_mod.summary_text(model_mod.build(cfg, tuple(cfg.input_shape)))
    return model_mod.summary_text(prepare(cfg, config_dir).model)


def train(prep: Prepared, runs_dir: Path, reporter: Reporter | None = None) -> tuple[Path, dict[str, Any]]:
    """Fit, evaluate on the test split and fill a new run folder; returns (run folder, metrics)."""
    reporter = reporter or NullReporter()
    cfg, data, model = prep.cfg, prep.data, prep.model
    run = runs.create(runs_dir, cfg.name or "run")
    started = time.time()
    meta: dict[str, Any] = {
        "status": "running",
        "started_at": started,
        "task": cfg.task,
        "epochs": 0,
        "best_epoch": None,
        "val": {},
        "test": {},
        "duration_s": 0.0,
        "params": model_mod.param_counts(model),
        "dataset": data.info(),
        "warnings": prep.warnings,
        "versions": versions(),
    }
    runs.write_atomic(run / "config.yaml", dump_yaml(prep.resolved()))
    runs.write_atomic(run / "summary.txt", model_mod.summary_text(model))
    runs.write_json(run / "metrics.json", meta)

    K.utils.set_random_seed(cfg.seed)
    train_ds = pipeline.dataset(data.train, cfg.batch_size, shuffle_seed=cfg.seed if cfg.shuffle else None)
    val_ds = pipeline.dataset(data.val, cfg.batch_size) if data.val else None
    history: list[dict[str, float]] = []
    recorder = _Recorder(run, history, meta, reporter, started, math.ceil(len(data.train) / cfg.batch_size))
    callbacks = [recorder]
    es = cfg.early_stopping
    if es is not None:
        callbacks.append(K.callbacks.EarlyStopping(
            monitor=es.monitor, patience=es.patience, min_delta=es.min_delta, mode=es.mode,
            restore_best_weights=es.restore_best_weights, verbose=0))
    reporter.start(cfg.epochs, recorder.steps)
    try:
        model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, callbacks=callbacks,
                  class_weight=class_weights(cfg, data.train.y),
                  shuffle=False, verbose=0)  # shuffled in tf.data
    except KeyboardInterrupt:
        _finish(run, meta, started, "interrupted", reason="interrupted by the user")
        raise Interrupted(f"interrupted after {len(history)} epoch(s); run folder: {run}") from None
    except Exception as e:  # noqa: BLE001  (anything failing mid-run is a failed run, exit 1)
        reason = keras_names.one_line(e)
        _finish(run, meta, started, "failed", reason=reason)
        raise TrainingFailed(f"training failed: {reason}; run folder: {run}") from None
    finally:
        reporter.end()
    if recorder.failed:
        _finish(run, meta, started, "failed", reason=recorder.failed)
        raise TrainingFailed(f"{recorder.failed}; run folder: {run}")

    best = _best_epoch(history, es.monitor if es else ("val_loss" if val_ds else "loss"), es.mode if es else "auto")
    kept = best if es is not None and es.restore_best_weights else len(history)
    meta["best_epoch"] = best
    meta["val"] = {k_[4:]: v for k_, v in history[kept - 1].items() if k_.startswith("val_")}
    meta["test"] = evaluate_split(model, data.test, cfg.batch_size)
    _save_model(model, run / "model.keras")
    _finish(run, meta, started, "completed")
    return run, meta


def class_weights(cfg: Config, y: np.ndarray) -> dict[int, float] | None:
    """The config's weights, or "balanced": n / (classes * count) as in scikit-learn."""
    if cfg.class_weight != "balanced":
        return cfg.class_weight
    counts = np.bincount(np.asarray(y).astype("int64").ravel())
    return {c: float(len(y) / (len(counts) * n)) for c, n in enumerate(counts) if n}


def evaluate_split(model: Any, split: data_mod.Split, batch_size: int) -> dict[str, float]:
    logs = model.evaluate(pipeline.dataset(split, batch_size), verbose=0, return_dict=True)
    return {name: float(v) for name, v in logs.items()}


def _best_epoch(history: list[dict[str, float]], monitor: str, mode: str) -> int | None:
    values = [h.get(monitor) for h in history]
    if not values or any(v is None for v in values):
        return None
    maximise = mode == "max" or (mode == "auto" and any(w in monitor for w in ("acc", "auc", "precision", "recall")))
    pick = max if maximise else min
    return 1 + values.index(pick(values))


def _save_model(model: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    tmp.replace(path)


def _finish(run: Path, meta: dict[str, Any], started: float, status: str, reason: str | None = None) -> None:
    meta["status"] = status
    meta["duration_s"] = round(time.time() - started, 3)
    if reason:
        meta["reason"] = reason
    runs.write_json(run / "metrics.json", meta)


def versions() -> dict[str, str]:
    import tensorflow as tf

    return {"nnctl": __version__, "tensorflow": tf.__version__, "keras": keras().__version__,
            "python": platform.python_version()}


class _Recorder(K.callbacks.Callback):
    """history.csv and metrics.json after every epoch; progress out to the reporter."""

    def __init__(self, run: Path, history: list, meta: dict, reporter: Reporter, started: float, steps: int):
        super().__init__()
        self.run, self.history, self.meta, self.reporter = run, history, meta, reporter
        self.started, self.steps = started, steps
        self.failed: str | None = None
        self._epoch_start = time.time()
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch, self._epoch_start = epoch + 1, time.time()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = _floats(logs)
        if not all(math.isfinite(v) for v in logs.values()):
            self.failed = (f"non-finite loss in epoch {self._epoch}, batch {batch + 1}: "
                           "try a lower learning rate or scale the inputs")
            self.model.stop_training = True
        self.reporter.batch(self._epoch, batch + 1, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = _floats(logs)
        self.history.append(logs)
        self.meta["epochs"] = len(self.history)
        self.meta["duration_s"] = round(time.time() - self.started, 3)
        runs.write_atomic(self.run / "history.csv", history_csv(self.history))
        runs.write_json(self.run / "metrics.json", self.meta)
        self.reporter.epoch(epoch + 1, logs, time.time() - self._epoch_start)


def _floats(logs: dict | None) -> dict[str, float]:
    return {k: float(v) for k, v in (logs or {}).items()}


def history_csv(history: list[dict[str, float]]) -> str:
    cols = list(dict.fromkeys(k for row in history for k in row))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["epoch", *cols])
    for i, row in enumerate(history, 1):
        w.writerow([i, *(repr(row[c]) if c in row else "" for c in cols)])
    return buf.getvalue()
