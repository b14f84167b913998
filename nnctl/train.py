"""Training, top to bottom: config -> data + model -> fit -> test metrics -> run folder."""

from __future__ import annotations

import csv
import hashlib
import io
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import (
    __version__,
    analysis,
    checkpoint,
    distribute,
    keras_names,
    mlflow_log,
    pipeline,
    plots,
    runs,
    stopping,
    tasks,
    tblog,
)
from . import data as data_mod
from . import model as model_mod
from .config import Config, differences, dump_yaml, flatten
from .errors import Interrupted, TrainingFailed, UserError
from .flops import training_flops_per_example
from .tf import keras


class Reporter(Protocol):
    """What the CLI shows while training; the core never prints."""

    def start(self, epochs: int, steps: int) -> None: ...
    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None: ...
    def epoch(self, epoch: int, logs: dict[str, float], seconds: float) -> None: ...
    def note(self, message: str) -> None: ...
    def end(self) -> None: ...


class NullReporter:
    def start(self, epochs: int, steps: int) -> None:
        pass

    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None:
        pass

    def epoch(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        pass

    def note(self, message: str) -> None:
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
    dist: distribute.Setup = field(default_factory=distribute.Setup)
    directions: dict[str, str] = field(default_factory=dict)  # each logged metric's "max" or "min", Keras' own

    def resolved(self) -> dict[str, Any]:
        return self.cfg.model_dump(mode="json")


def prepare(cfg: Config, config_dir: Path | None = None, distributed: bool = False) -> Prepared:
    """Check and build everything short of training. `distributed` (train) sets up the config's
    distribution strategy; without it (validate, summary) the model is built on one device."""
    if distributed and cfg.distribution.strategy == "multi_worker":
        distribute.supervise(cfg.distribution)  # forks: the parent enforces join_timeout_s
    pending = data_mod.load_soon(cfg, config_dir)
    # TensorFlow imports (seconds) while array files are read on another thread; a distribution
    # strategy is created before TensorFlow's first op, as it must be.
    dist = distribute.setup(cfg.distribution, join=distributed)
    data = pending()
    input_shape = fit_input_shape(cfg, data)
    data.hash_soon()  # fingerprints for metrics.json, hashed while the model is built
    keras().mixed_precision.set_global_policy(cfg.mixed_precision or "float32")  # float32 undoes a previous run's
    with dist.scope():
        return _prepare(cfg, config_dir, data, input_shape, dist)


def _prepare(cfg: Config, config_dir: Path | None, data: data_mod.Data, input_shape: tuple[int, ...],
             dist: distribute.Setup) -> Prepared:
    built = model_mod.build_for(cfg, data)
    model = built.model
    labels = tasks.Labels.of(data.train.y)
    last = f"layers.{len(cfg.layers) - 1}.{keras_names.layer_entry(cfg.layers[-1])[0]}"
    units = model_mod.output_units(built.body, last)
    task = cfg.task or tasks.infer_task(labels, data.regression, units)
    loss_spec = cfg.loss if cfg.loss is not None else tasks.default_loss(task, labels)
    metric_specs = cfg.metrics if cfg.metrics is not None else tasks.default_metrics(task)
    loss, metrics = keras_names.loss_and_metrics(loss_spec, metric_specs)
    optimizer = keras_names.optimizer(cfg.optimizer)
    warnings = [*cfg.translations, *data.warnings]
    warnings += tasks.check(task, labels, units, model_mod.output_activation(built.body),
                            model_mod.loss_name(loss), last)
    if cfg.class_weight is not None and task not in ("classification", "binary"):
        raise UserError(f"class_weight weighs single-label classes; this is a {task} task", "class_weight")
    model_mod.adapt(built, lambda: pipeline.inputs(data.train, cfg.batch_size), cfg.batch_size)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=cfg.jit_compile,
                  steps_per_execution=steps_per_execution(cfg, model, len(data.train)))
    cfg = cfg.model_copy(update={"task": task, "loss": loss_spec, "metrics": metric_specs,
                                 "input_shape": list(input_shape),
                                 "data": data_mod.absolute_paths(cfg.data, config_dir)})
    _dry_run(model, data, cfg)
    return Prepared(cfg, data, model, warnings, dist, directions(model))


def directions(model: Any) -> dict[str, str]:
    """Whether each compiled metric improves up or down, as Keras' EarlyStopping reads it
    (the metric object's own direction); the loss goes down."""
    found = {"loss": "min"}
    for m in model.metrics:
        for metric in getattr(m, "metrics", None) or [m]:
            direction = getattr(metric, "_direction", None)
            if direction in ("up", "down") and metric.name != "loss":
                found[metric.name] = "max" if direction == "up" else "min"
    return found


AUTO_FLOP_PER_CALL = 2e9  # about 20 ms on a 2-core CPU: the ~1 ms of Python per compiled call is noise
AUTO_MAX_STEPS = 32  # still a progress update every few seconds for slow models


def steps_per_execution(cfg: Config, model: Any, n_train: int) -> int:
    """Batches per compiled call: the config's number, or for "auto" enough that Python's
    per-call overhead is small next to the arithmetic (small models gain most; 1 for big ones)."""
    steps = max(1, math.ceil(n_train / cfg.batch_size))
    if cfg.distribution.strategy != "none":
        # Keras' multi-step loop fails on distributed iterators (a while/cond placeholder error).
        if cfg.steps_per_execution not in ("auto", 1):
            raise UserError("must be 1 (or auto) with a distribution strategy: Keras' multi-step loop "
                            "fails on distributed datasets", "steps_per_execution")
        return 1
    if cfg.steps_per_execution != "auto":
        return min(int(cfg.steps_per_execution), steps)
    flops = training_flops_per_example(model)
    if not flops:  # layers it cannot count: assume big, keep per-batch callbacks
        return 1
    return max(1, min(math.ceil(AUTO_FLOP_PER_CALL / (flops * cfg.batch_size)), AUTO_MAX_STEPS, steps))


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
        # Eagerly, not through model.evaluate: the same checks without tracing a test function
        # for a batch of two (0.3 s that training would not reuse).
        x2, y2 = next(iter(pipeline.dataset(data.train.take(slice(0, 2)), 2)))
        y_pred = model(x2, training=False)
        model.compute_loss(x2, y2, y_pred)
        logs = model.compute_metrics(x2, y2, y_pred)
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


def train(prep: Prepared, runs_dir: Path, reporter: Reporter | None = None,
          resume: Path | None = None, mlflow: bool = False) -> tuple[Path, dict[str, Any]]:
    """Fit, evaluate on the test split and fill a run folder; returns (run folder, metrics).

    With `resume`, continue that run from its last complete epoch instead of starting one.
    With `mlflow` (or MLFLOW_TRACKING_URI set), also log the run to MLflow.
    """
    dist = prep.dist
    if resume and dist.workers > 1:
        raise UserError("a multi_worker run cannot be resumed; start it again", "--resume")
    reporter = reporter or NullReporter()
    if not dist.chief:  # a worker trains in step with the chief and writes nothing
        run = Path(dist.agree(""))
        return run, _fit(run, prep, _monitor(prep), _worker_meta(prep), reporter)[1]
    run = resume or runs.create(runs_dir, prep.cfg.name or "run")
    dist.agree(str(run))  # every worker learns the chief's folder
    with runs.lock(run):
        state, meta = _resume(run, prep, reporter) if resume else _start(run, prep)
        tracker = None
        if mlflow_log.wanted(mlflow):
            tracker = mlflow_log.Tracker(run, prep.cfg.name or "nnctl", meta.get("hparams") or {}, meta)
            runs.write_json(run / "metrics.json", meta)
        try:
            return _fit(run, prep, state, meta, reporter, tracker)
        finally:
            if tracker is not None:
                tracker.end(meta["status"], meta)


def _monitor(prep: Prepared) -> checkpoint.State:
    es = prep.cfg.early_stopping
    if es is not None:
        return checkpoint.State.start(es.monitor, es.mode, prep.directions)
    return checkpoint.State.start("val_loss" if prep.data.val is not None else "loss", "min")


def _start(run: Path, prep: Prepared) -> tuple[checkpoint.State, dict[str, Any]]:
    meta: dict[str, Any] = {
        "status": "running",
        "started_at": time.time(),
        "task": prep.cfg.task,
        "epochs": 0,
        "best_epoch": None,
        "val": {},
        "test": {},
        "duration_s": 0.0,
        "params": model_mod.param_counts(prep.model),
        "dataset": prep.data.info(),
        "warnings": prep.warnings,
        "versions": versions(),
        "threads": threads(),
        "steps_per_execution": int(prep.model.steps_per_execution),
        "distribution": prep.dist.info(prep.cfg.batch_size),
        "mixed_precision": prep.cfg.mixed_precision,
        "directions": prep.directions,  # how `nnctl runs` and sweeps rank by a metric
        "hparams": flatten(prep.resolved()),  # the config as dotted keys: `nnctl runs` reads no YAML
    }
    runs.write_atomic(run / runs.CONFIG, dump_yaml(prep.resolved()))
    runs.write_atomic(run / runs.SUMMARY, model_mod.summary_text(prep.model))
    runs.write_json(run / runs.METRICS, meta)
    return _monitor(prep), meta


def _resume(run: Path, prep: Prepared, reporter: Reporter) -> tuple[checkpoint.State, dict[str, Any]]:
    """The run's state after its newest intact epoch, its weights and optimizer in prep.model."""
    cfg = prep.cfg
    stored = runs.read_config(run).model_dump(mode="json")
    changed = [k for k in differences(stored, prep.resolved()) if k != "epochs"]
    if changed:
        raise UserError(f"the config differs from the run's in {', '.join(changed)}; only epochs may change "
                        "on resume (start a new run for the rest)", "--resume")
    meta = runs.read_metrics(run)
    states, notes = checkpoint.candidates(run)
    if not states:  # killed before its first epoch ended: start over in the same folder
        state, meta = _start(run, prep)
    else:
        newest = states[0]
        if meta.get("status") == "completed" and newest.stopped_early:
            raise UserError(f"{run} stopped early at epoch {newest.epoch} (early_stopping); "
                            "there is nothing to resume", "--resume")
        if meta.get("status") == "completed" and newest.epoch >= cfg.epochs:
            raise UserError(f"{run} has trained all {newest.epoch} epochs; "
                            f"to train longer: nnctl train --resume {run} --epochs {newest.epoch + 5}", "--resume")
        # A run killed after its last epoch but before its test still needs restoring, testing and saving.
        with prep.dist.scope():
            state = checkpoint.restore(run, prep.model, states, notes)
        for note in notes:
            reporter.note(f"warning: {note}")
        reporter.note(f"resuming from {checkpoint.FOLDER}/{state.last} (epoch {state.epoch} of {cfg.epochs})")
        if not meta:  # metrics.json was deleted: the record starts again, the epochs come from the checkpoint
            meta = _start(run, prep)[1]
    meta.pop("reason", None)
    meta.update(status="running", epochs=state.epoch, hparams=flatten(prep.resolved()))
    meta.setdefault("resumed", []).append({"at_epoch": state.epoch, "time": time.time()})
    runs.write_atomic(run / runs.CONFIG, dump_yaml(prep.resolved()))  # epochs may have grown
    runs.write_atomic(run / runs.HISTORY, history_csv(state.history))  # no rows past the checkpoint resumed
    runs.write_json(run / runs.METRICS, meta)
    return state, meta


def _fit(run: Path, prep: Prepared, state: checkpoint.State, meta: dict[str, Any],
         reporter: Reporter, tracker: mlflow_log.Tracker | None = None) -> tuple[Path, dict[str, Any]]:
    """The training loop, one epoch per model.fit call so each epoch can be reseeded and checkpointed."""
    cfg, data, model = prep.cfg, prep.data, prep.model
    es = cfg.early_stopping
    session_start, before = time.time(), float(meta.get("duration_s") or 0.0)
    val_ds = pipeline.dataset(data.val, cfg.batch_size) if data.val else None
    weights = class_weights(cfg, data.train.y)

    def elapsed() -> float:
        return round(before + time.time() - session_start, 3)

    from .batches import Batches, NonFinite, Stop

    watch = Batches(reporter, math.ceil(len(data.train) / cfg.batch_size))
    flops = training_flops_per_example(model)
    chief = prep.dist.chief  # other workers train in step and write nothing
    board = tblog.Log(run, dump_yaml(prep.resolved()), meta.get("hparams") or {},
                      first_session=state.epoch == 0) if chief else None
    if chief:
        plots.import_soon()
    reporter.start(cfg.epochs, watch.steps)
    try:
        with stopping.on_signals() as stop:
            watch.stop = stop
            session_epochs = 0
            for epoch in range(state.epoch, state.epoch if state.stopped_early else cfg.epochs):
                session_epochs += 1
                shuffle_seed = checkpoint.reseed(model, cfg.seed, epoch)
                train_ds = pipeline.dataset(data.train, cfg.batch_size, shuffle_seed if cfg.shuffle else None)
                began = time.time()
                fit = model.fit(train_ds, validation_data=val_ds, initial_epoch=epoch, epochs=epoch + 1,
                                callbacks=[watch], class_weight=weights, verbose=0)
                logs = {k: float(v[-1]) for k, v in fit.history.items()}
                improved = state.record(logs, int(model.optimizer.iterations.numpy()), es.min_delta if es else 0.0)
                state.stopped_early = es is not None and state.wait >= es.patience
                if chief:
                    checkpoint.save(run, model, state, improved)
                meta.update(epochs=state.epoch, best_epoch=state.best_epoch, duration_s=elapsed(),
                            val=_val(logs),  # the latest so far; the kept epoch's once training ends
                            best={"monitor": state.monitor, "value": state.best, "epoch": state.best_epoch},
                            throughput=_throughput(watch, len(data.train), cfg.batch_size, session_epochs, flops))
                if chief:
                    runs.write_atomic(run / "history.csv", history_csv(state.history))
                    runs.write_json(run / "metrics.json", meta)
                    board.epoch(epoch + 1, logs)
                if tracker is not None:
                    tracker.epoch(epoch + 1, logs)
                reporter.epoch(epoch + 1, logs, time.time() - began)
                if stop:
                    raise Stop(stop.signal)
                if state.stopped_early:
                    break
    except (Stop, KeyboardInterrupt):
        _finish(run, meta, elapsed(), "interrupted", reason="interrupted (Ctrl-C or SIGTERM)", write=chief)
        raise Interrupted(f"interrupted after {state.epoch} complete epoch(s); run folder: {run}; "
                          f"continue with: nnctl train --resume {run}", run) from None
    except NonFinite as e:
        _finish(run, meta, elapsed(), "failed", reason=str(e), write=chief)
        raise TrainingFailed(f"{e}; run folder: {run}", run) from None
    except Exception as e:  # noqa: BLE001  (anything failing mid-run is a failed run, exit 1)
        reason = keras_names.one_line(e)
        _finish(run, meta, elapsed(), "failed", reason=reason, write=chief)
        raise TrainingFailed(f"training failed: {reason}; run folder: {run}", run) from None
    finally:
        reporter.end()
        if board is not None:
            board.close()

    if prep.dist.strategy is not None:  # the last epoch's weights, to check that the replicas agree
        meta["distribution"]["weights_sha256"] = weights_digest(model)
    if not chief:
        _finish(run, meta, elapsed(), "completed", write=False)
        return run, meta
    kept = state.epoch
    if es is not None and es.restore_best_weights and state.best_epoch is not None:
        if checkpoint.restore_best(run, model):
            kept = state.best_epoch
        else:
            meta["warnings"] = [*meta.get("warnings", []), f"{checkpoint.FOLDER}/{checkpoint.BEST} is missing or "
                                "damaged: the model keeps the last epoch's weights, not the best epoch's"]
    meta["val"] = _val(state.history[kept - 1]) if kept else {}
    meta["kept_epoch"] = kept
    checkpoint.save_model(model, run / runs.MODEL)
    if prep.dist.strategy is not None:
        # Test on a plain copy: the test step, called outside strategy.run, is not meant for mirrored variables.
        from . import saved

        model = saved.load_model(run / runs.MODEL)
    meta["test"], predicted = test_pass(model, data.test, cfg.batch_size)
    try:
        details = analysis.analyse(run, predicted, data.test, cfg, data.class_names)
        runs.write_json(run / "evaluation.json", {"run": str(run), "test": meta["test"], **details,
                                                  "evaluated_at": time.time()})
    except Exception as e:  # noqa: BLE001  (figures are extras: the trained, tested model stands)
        meta["warnings"] = [*meta.get("warnings", []), f"plots/evaluation.json not written: {keras_names.one_line(e)}"]
    _finish(run, meta, elapsed(), "completed")
    return run, meta


def _val(logs: dict[str, float]) -> dict[str, float]:
    return {k[4:]: v for k, v in logs.items() if k.startswith("val_")}


def _throughput(watch: Any, n_train: int, batch_size: int, epochs: int, flops: int | None) -> dict[str, Any]:
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


def class_weights(cfg: Config, y: np.ndarray) -> dict[int, float] | None:
    """The config's weights, or "balanced": scikit-learn's n / (classes * count)."""
    if cfg.class_weight != "balanced":
        return cfg.class_weight
    from sklearn.utils.class_weight import compute_class_weight

    y = np.asarray(y)
    labels = y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.astype("int64").ravel()  # one-hot too
    classes = np.unique(labels)
    return dict(zip(classes.tolist(), compute_class_weight("balanced", classes=classes, y=labels).tolist(),
                    strict=True))


def test_pass(model: Any, split: data_mod.Split, batch_size: int) -> tuple[dict[str, float], np.ndarray]:
    """The split's metrics, as model.evaluate gives them, and the model's predictions, in one pass.

    Keras' test step plus the outputs, compiled once: evaluate then predict would read the split
    twice and trace two functions, and the step run eagerly was 2-3x slower (10,000 Fashion-MNIST
    images through the CNN: 0.9 s against 2.0-2.7 s; the same metrics and outputs to the bit).
    """
    import tensorflow as tf

    batches = pipeline.dataset(split, batch_size)
    model.reset_metrics()
    loss_tracker = model.metrics[0]  # Keras keeps the loss tracker first; evaluate weighs it by batch size

    def step(x: Any, y: Any) -> Any:
        y_pred = model(x, training=False)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)
        loss_tracker.update_state(loss, sample_weight=tf.shape(tf.nest.flatten(y)[0])[0])
        model.compute_metrics(x, y, y_pred)
        return y_pred

    # The dataset's signature (batch size None): the last, smaller batch reuses the same trace.
    compiled = tf.function(step, input_signature=list(batches.element_spec))
    outputs = [np.asarray(compiled(x, y)) for x, y in batches]
    logs = model.get_metrics_result()
    model.reset_metrics()
    return {name: float(v) for name, v in logs.items()}, np.concatenate(outputs)


def _finish(run: Path, meta: dict[str, Any], duration: float, status: str, reason: str | None = None,
            write: bool = True) -> None:
    meta["status"] = status
    meta["duration_s"] = duration
    if reason:
        meta["reason"] = reason
    if write:
        runs.write_json(run / "metrics.json", meta)


def _worker_meta(prep: Prepared) -> dict[str, Any]:
    """A non-chief worker's account of its run, for its own output only (it writes no files)."""
    return {"status": "running", "epochs": 0, "best_epoch": None, "val": {}, "test": {}, "duration_s": 0.0,
            "distribution": prep.dist.info(prep.cfg.batch_size)}


def weights_digest(model: Any) -> str:
    """sha256 of every weight's bytes: equal on all workers when the replicas stayed in sync."""
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).data)
    return h.hexdigest()


def threads() -> dict[str, int]:
    """TensorFlow's thread pools in this process (0: TensorFlow's default, all cores)."""
    import tensorflow as tf

    return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}


def versions() -> dict[str, str]:
    import tensorflow as tf

    return {"nnctl": __version__, "tensorflow": tf.__version__, "keras": keras().__version__,
            "python": platform.python_version()}


def history_csv(history: list[dict[str, float]]) -> str:
    cols = list(dict.fromkeys(k for row in history for k in row))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["epoch", *cols])
    for i, row in enumerate(history, 1):
        w.writerow([i, *(repr(row[c]) if c in row else "" for c in cols)])
    return buf.getvalue()
