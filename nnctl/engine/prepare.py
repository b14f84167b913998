"""Everything checked and built, nothing trained: the config's data loaded and split, the model
built and compiled, task, loss and metrics filled in. `nnctl validate` stops here; training
starts from a `Prepared`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnctl import data as data_mod
from nnctl.choices import SINGLE_LABEL
from nnctl.config import Config
from nnctl.data import pipeline
from nnctl.engine import distribute, precision, targets
from nnctl.errors import UserError, did_you_mean, one_line
from nnctl.model import build as model_mod
from nnctl.model import graph, keras_names, tasks
from nnctl.model.flops import training_flops_per_example


@dataclass
class Prepared:
    """Everything checked and built, nothing trained: what `validate` stops at."""

    cfg: Config  # task, loss, metrics and input_shape filled in
    data: data_mod.Data
    model: Any
    warnings: list[str] = field(default_factory=list)
    dist: distribute.Setup = field(default_factory=distribute.Setup)
    directions: dict[str, str] = field(default_factory=dict)  # each logged metric's "max" or "min", Keras' own
    precision: precision.Choice = field(default_factory=lambda: precision.forced("float32"))
    flops: int | None = None  # training FLOPs per example; None: layers it cannot count

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
    input_shape = data.input_shape
    data.hash_soon()  # fingerprints for metrics.json, hashed while the model is built
    with dist.scope():
        return _prepare(cfg, config_dir, data, input_shape, dist)


def _prepare(cfg: Config, config_dir: Path | None, data: data_mod.Data, input_shape: tuple[int, ...],
             dist: distribute.Setup) -> Prepared:
    built, choice, flops = _build(cfg, data, dist)
    cfg = cfg.model_copy(update={"mixed_precision": choice.policy})  # what a resumed run must train in again
    model = built.model
    if cfg.graph is not None:
        return _prepare_graph(cfg, config_dir, data, model, dist, choice, flops)
    labels = tasks.Labels.of(data.train.y)
    last = f"layers.{len(cfg.layers) - 1}.{keras_names.layer_entry(cfg.layers[-1])[0]}"
    units = model_mod.output_units(model, last)
    given_loss = model_mod.loss_name(keras_names.loss(cfg.loss, "loss")) if cfg.loss is not None else None
    task = targets.task_for(cfg.task, given_loss, labels, data.regression, units)
    data = targets.relabel(data, task)  # an explicit task or a regression loss wins over the labels' look
    if cfg.decision is not None and task != "binary":
        raise UserError(f"a decision threshold is for binary classifiers; this is a {task} task", "decision")
    labels = tasks.Labels.of(data.train.y)
    loss_spec = cfg.loss if cfg.loss is not None else tasks.default_loss(task, labels)
    metric_specs = cfg.metrics if cfg.metrics is not None else tasks.default_metrics(task)
    loss, metrics = keras_names.loss_and_metrics(loss_spec, metric_specs)
    optimizer = keras_names.optimizer(cfg.optimizer)
    warnings = [*cfg.translations, *data.warnings]
    activation = model_mod.output_activation(model.outputs[0])
    warnings += tasks.check(task, labels, units, activation, model_mod.loss_name(loss), last,
                            tuple(model.output_shape[1:]), model_mod.from_logits(loss))
    if cfg.class_weight is not None and (task not in SINGLE_LABEL or labels.kind == "positions"):
        raise UserError(f"class_weight weighs single-label classes; this is a "
                        f"{'per-position ' if labels.kind == 'positions' else ''}{task} task", "class_weight")
    model_mod.adapt(built, lambda: pipeline.inputs(data.train, cfg.batch_size), cfg.batch_size)
    standard = targets.scale(task, activation, model_mod.loss_name(loss), data.train.y)
    if standard is not None:  # learnt standardised, predicted in the target's units
        model = targets.in_target_units(model, {None: standard})
    model.compile(optimizer=optimizer, loss=targets.loss_for(model, loss), metrics=metrics, jit_compile=cfg.jit_compile,
                  steps_per_execution=steps_per_execution(cfg, len(data.train), flops))
    cfg = cfg.model_copy(update={"task": task, "loss": loss_spec, "metrics": metric_specs,
                                 "input_shape": list(input_shape),
                                 "data": data_mod.resolved(cfg.data, config_dir, data)})
    _dry_run(model, data, cfg)
    return Prepared(cfg, data, model, warnings, dist, directions(model), choice, flops)


def _build(cfg: Config, data: data_mod.Data, dist: distribute.Setup) -> tuple[model_mod.Built, precision.Choice,
                                                                            int | None]:
    """The model in the config's policy, and its training FLOPs per example (counted once); under
    `auto`, built in float32, judged, and built again in mixed_bfloat16 if that is the choice (the
    same seed gives the same weights)."""
    auto = cfg.mixed_precision == "auto"
    built = graph.build_for(cfg, data, "float32" if auto else cfg.mixed_precision)
    flops = training_flops_per_example(built.model)
    if not auto:
        return built, precision.forced(cfg.mixed_precision), flops
    choice = precision.auto(built.model, cfg.batch_size / dist.replicas, flops)
    if choice.policy != "float32":
        built = graph.build_for(cfg, data, choice.policy)
    return built, choice, flops


def _prepare_graph(cfg: Config, config_dir: Path | None, data: data_mod.Data, model: Any,
                   dist: distribute.Setup, choice: precision.Choice, flops: int | None) -> Prepared:
    """The graph form: every output checked and compiled with its own loss and metrics."""
    from nnctl.engine import outputs

    out = outputs.resolve(cfg, data, model)
    if cfg.class_weight is not None:
        raise UserError("class_weight weighs one output's classes; with several outputs use loss_weights",
                        "class_weight")
    if cfg.decision is not None:
        raise UserError("a decision threshold is for the stack form's one binary output", "decision")
    if out.scales:  # regression outputs far from unit scale: learnt standardised, in their units outside
        model = targets.in_target_units(model, out.scales)
    model.compile(optimizer=keras_names.optimizer(cfg.optimizer), loss=targets.loss_for(model, out.loss),
                  loss_weights=out.loss_weights,
                  metrics=out.metrics, jit_compile=cfg.jit_compile,
                  steps_per_execution=steps_per_execution(cfg, len(data.train), flops))
    update = outputs.resolved(cfg, out)
    update["data"] = data_mod.absolute_paths(update["data"], config_dir)
    cfg = cfg.model_copy(update=update)
    _dry_run(model, data, cfg)
    return Prepared(cfg, data, model, [*cfg.translations, *data.warnings, *out.warnings], dist,
                    directions(model), choice, flops)


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


def steps_per_execution(cfg: Config, n_train: int, flops: int | None) -> int:
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
    if not flops:  # layers it cannot count: assume big, keep per-batch callbacks
        return 1
    return max(1, min(math.ceil(AUTO_FLOP_PER_CALL / (flops * cfg.batch_size)), AUTO_MAX_STEPS, steps))


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
        labels = (", ".join(f"{k} {list(v.shape[1:]) or '(scalar)'}" for k, v in data.train.y.items())
                  if isinstance(data.train.y, dict) else data.train.y.shape[1:] or "(scalar)")
        raise UserError(f"the model's output {model.output_shape} does not fit the labels "
                        f"{labels} with loss {cfg.loss}: {one_line(e)}", "layers") from None
    es = cfg.early_stopping
    if es is not None:
        allowed = sorted(logs) + (sorted(f"val_{k}" for k in logs) if data.val else [])
        if es.monitor not in allowed:
            raise UserError(f"bad value {es.monitor!r}: this run logs {', '.join(allowed)}"
                            f"{did_you_mean(es.monitor, allowed)}",
                            "early_stopping.monitor")
    model.reset_metrics()


def summarize(cfg: Config, config_dir: Path | None = None) -> str:
    """The model summary of a config; reads the data only when input_shape is not given."""
    if cfg.input_shape is not None:
        return model_mod.summary_text(model_mod.build(cfg, tuple(cfg.input_shape)))
    return model_mod.summary_text(prepare(cfg, config_dir).model)


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
