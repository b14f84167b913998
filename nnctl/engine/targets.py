"""The task and the targets as training sees them: an explicit task or a regression loss wins over
what the labels suggest, labels are re-read for that task, and a regression target far from unit
scale is learnt standardised while the model still outputs the target's own units."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from nnctl.backend import keras
from nnctl.data import Data, Split, encode_with
from nnctl.model import tasks

# Losses of y_true - y_pred alone, so a scale divides out of them (ScaledLoss); the regression
# losses a user may give in place of a task.
SCALABLE = {"mean_squared_error", "mean_absolute_error", "huber", "log_cosh", "root_mean_squared_error"}
REGRESSION_LOSSES = SCALABLE | {"mean_absolute_percentage_error", "mean_squared_logarithmic_error"}
TARGET_UNITS = "target_units"  # the Rescaling layer that ends a model with a standardised target


def task_for(cfg_task: str | None, loss_name: str | None, labels: tasks.Labels, regression_hint: bool,
             units: int) -> str:
    if cfg_task is not None:
        return cfg_task
    if loss_name in REGRESSION_LOSSES:
        return "regression"
    return tasks.infer_task(labels, regression_hint, units)


def relabel(data: Data, task: str) -> Data:
    """The labels as `task` reads them: whole-number classes as numbers for regression, and
    numbers the task rule read as a quantity back to classes (sorted) for classification."""
    y = data.train.y
    if isinstance(y, dict) or np.asarray(y).ndim != 1:  # per-position labels and several columns stay
        return data
    if task == "regression" and np.issubdtype(np.asarray(y).dtype, np.integer):
        return _with(data, lambda v: np.asarray(v, "float32"), None, True)
    if task in ("classification", "binary") and data.quantity:
        values = np.unique(np.concatenate([np.asarray(s.y) for s in (data.train, data.val, data.test) if s]))
        names = [f"{v:g}" for v in values]
        return _with(data, lambda v: encode_with(np.asarray([f"{x:g}" for x in v]), names, "data.target"),
                     names, False)
    return data


def _with(data: Data, f: Any, names: list[str] | None, regression: bool) -> Data:
    splits = {k: Split(s.x, f(s.y)) if s is not None else None for k, s in
              (("train", data.train), ("val", data.val), ("test", data.test))}
    return dataclasses.replace(data, **splits, class_names=names, regression=regression, quantity=False)


def scale(task: str, activation: str, loss_name: str, y: np.ndarray) -> tuple[list[float], list[float]] | None:
    """(mean, std) per target column when a linear regression output would learn a target far from
    unit scale (std outside [0.5, 2] or mean beyond +-2); None otherwise."""
    if task != "regression" or activation != "linear" or loss_name not in SCALABLE:
        return None
    y = np.asarray(y, "float64").reshape(len(y), -1)
    if y.shape[1] > 1024 or not np.isfinite(y).all():
        return None
    mean, std = y.mean(axis=0), y.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    if np.all((std >= 0.5) & (std <= 2)) and np.all(np.abs(mean) <= 2):
        return None
    return mean.tolist(), std.tolist()


def in_target_units(model: Any, scales: dict[str | None, tuple[list[float], list[float]]]) -> Any:
    """The model with a last layer per scaled output (None: the one output of a stack) that maps
    standardised outputs to the target's units."""
    k = keras()

    def layer(name: str | None) -> Any:
        mean, std = scales[name]
        one = len(std) == 1
        return k.layers.Rescaling(std[0] if one else std, offset=mean[0] if one else mean, dtype="float32",
                                  name=_layer_name(name))

    if None in scales:
        if isinstance(model, k.Sequential):
            model.add(layer(None))
            return model
        return k.Model(model.inputs, layer(None)(model.outputs[0]), name=model.name)
    outputs = {n: layer(n)(t) if n in scales else t for n, t in model.output.items()}
    return k.Model(model.inputs, outputs, name=model.name)


def _layer_name(output: str | None) -> str:
    from nnctl.model.build import safe_name

    return TARGET_UNITS if output is None else f"{TARGET_UNITS}_{safe_name(output)}"


def loss_for(model: Any, loss: Any) -> Any:
    """The loss as training compiles it for this model (per output in the graph form): scaled where
    the model ends in target units."""
    from nnctl.model.layers import ScaledLoss

    def scaled(output: str | None, inner: Any) -> Any:
        try:
            last = model.get_layer(_layer_name(output))
        except ValueError:
            return inner
        return ScaledLoss(inner, list(last.scale) if isinstance(last.scale, (list, tuple)) else [last.scale])

    if isinstance(loss, dict):
        return {n: scaled(n, inner) for n, inner in loss.items()}
    return scaled(None, loss)
