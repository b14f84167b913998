"""The graph form's outputs, each checked as the one-stack form checks its single output: its task
(given in data.targets or inferred from its labels), its loss and metrics (given per output or
defaulting from the task), and the task/labels/output/loss check, with key paths naming the output
(`layers.origin...`, `loss.origin`, `data.targets.origin.task`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnctl.config import Config
from nnctl.config.graph import branch_layers, per_output
from nnctl.engine import targets
from nnctl.errors import UserError
from nnctl.model import keras_names, tasks
from nnctl.model.build import from_logits, loss_name, output_activation


@dataclass
class Outputs:
    loss: dict[str, Any] = field(default_factory=dict)  # what compile takes, per output
    metrics: dict[str, list[Any]] = field(default_factory=dict)
    loss_weights: dict[str, float] | None = None
    loss_specs: dict[str, Any] = field(default_factory=dict)  # the resolved config's, per output
    metric_specs: dict[str, list[Any]] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    scales: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)  # engine.targets.scale


def resolve(cfg: Config, data: Any, model: Any) -> Outputs:
    names = cfg.outputs
    losses = per_output(cfg.loss, names, "loss")
    if losses is None and cfg.loss is not None:
        losses = dict.fromkeys(names, cfg.loss)  # one loss named for every output
    metrics = per_output(cfg.metrics, names, "metrics") or {}
    out = Outputs(loss_weights=dict(cfg.loss_weights) if cfg.loss_weights else None)
    for name in names:
        y = data.train.y[name]
        labels = tasks.Labels.of(y)
        tensor = model.output[name]
        shape = tuple(tensor.shape[1:])
        stack, inner = branch_layers(cfg.graph[name])
        last = f"layers.{name}{inner}.{len(stack) - 1}.{keras_names.layer_entry(stack[-1])[0]}"
        if any(d is None for d in shape):
            raise UserError(f"the output shape {list(shape)} is not fixed (None: varies per example); end the "
                            "branch with a layer of fixed size, such as Dense", last)
        units = int(np.prod(shape))
        given = cfg.data.targets[name].task
        task = given or tasks.infer_task(labels, data.outputs[name]["regression"], units)
        loss_spec = (losses or {}).get(name) or tasks.default_loss(task, labels)
        metric_specs = metrics.get(name) or tasks.default_metrics(task)
        loss, compiled = keras_names.loss_and_metrics(loss_spec, metric_specs, f"metrics.{name}", f"loss.{name}")
        keys = {"loss": f"loss.{name}", "task": f"data.targets.{name}.task", "class_weight": "class_weight"}
        try:
            found = tasks.check(task, labels, units, output_activation(tensor), loss_name(loss), last, shape,
                                from_logits(loss))
        except UserError as e:
            raise UserError(f"output {name}: {e.message}", keys.get(e.key, e.key)) from None
        out.warnings += [f"output {name}: {w}" for w in found]
        scale = targets.scale(task, output_activation(tensor), loss_name(loss), y)
        if scale is not None:
            out.scales[name] = scale
        out.loss[name], out.metrics[name] = loss, compiled
        out.loss_specs[name], out.metric_specs[name], out.tasks[name] = loss_spec, metric_specs, task
    return out


def resolved(cfg: Config, out: Outputs) -> dict[str, Any]:
    """The config's update: each target's task, and the loss and metrics per output."""
    targets = {n: t.model_copy(update={"task": out.tasks[n]}) for n, t in cfg.data.targets.items()}
    return {"loss": out.loss_specs, "metrics": out.metric_specs, "loss_weights": out.loss_weights,
            "data": cfg.data.model_copy(update={"targets": targets})}
