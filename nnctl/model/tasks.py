"""Task types: defaults for loss and metrics, and the task/labels/output/loss check.

The check catches the classic mistakes of the course slides before training:
wrong number of output units, softmax with binary cross-entropy, categorical
cross-entropy on integer labels, sigmoid on an unbounded regression target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nnctl.errors import UserError

CROSS_ENTROPIES = {"sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy"}


@dataclass
class Labels:
    kind: str  # integer | onehot | multihot | continuous | positions (a class per step or cell)
    n_outputs: int  # classes for integer labels (per position too), columns otherwise
    low: float
    high: float
    positions: tuple[int, ...] = ()  # the per-example label shape of per-position labels: (T,) or (H, W)

    @classmethod
    def of(cls, y: np.ndarray) -> Labels:
        y = np.asarray(y)
        if y.size == 0:
            raise UserError("the training split has no labels", "data")
        low, high = float(np.min(y)), float(np.max(y))
        integral = np.issubdtype(y.dtype, np.integer) or bool(np.all(np.mod(y, 1) == 0))
        cols = int(np.prod(y.shape[1:])) if y.ndim > 1 else 1
        if y.ndim == 1 or (y.ndim == 2 and cols == 1):
            if integral and np.issubdtype(y.dtype, np.integer) and low >= 0:
                return cls("integer", int(high) + 1, low, high)
            return cls("continuous", 1, low, high)
        if np.issubdtype(y.dtype, np.integer) and low >= 0 and (y.ndim > 2 or high > 1):
            # Integer labels per step (N, T) or per cell (N, H, W): a class at every position. 0/1
            # pairs (N, T) stay tags (multilabel), as a multi-hot table reads.
            return cls("positions", int(high) + 1, low, high, tuple(y.shape[1:]))
        if y.ndim == 2 and integral and low >= 0 and high <= 1:
            kind = "onehot" if bool(np.all(y.sum(axis=1) == 1)) else "multihot"
            return cls(kind, cols, low, high)
        return cls("continuous", cols, low, high)


def infer_task(labels: Labels, regression_hint: bool, output_units: int) -> str:
    if regression_hint or labels.kind == "continuous":
        return "regression"
    if labels.kind == "multihot":
        return "multilabel"
    if labels.kind == "integer" and labels.n_outputs <= 2 and output_units == 1:
        return "binary"
    return "classification"


def default_loss(task: str, labels: Labels) -> str:
    if task == "regression":
        return "mean_squared_error"
    if task in ("binary", "multilabel"):
        return "binary_crossentropy"
    return "categorical_crossentropy" if labels.kind == "onehot" else "sparse_categorical_crossentropy"


def default_metrics(task: str) -> list[str]:
    return {
        "classification": ["accuracy"],
        "binary": ["accuracy", "auc", "precision", "recall"],
        "multilabel": ["binary_accuracy", "auc", "precision", "recall"],
        "regression": ["mae", "RootMeanSquaredError"],
    }[task]


def check(task: str, labels: Labels, units: int, activation: str, loss: str, last_key: str,
          shape: tuple[int | None, ...] = (), logits: bool = False) -> list[str]:
    """Raise UserError on a mismatch that cannot train; return warnings for odd but legal choices.
    `shape` is the model's output shape per example (per-position labels need it whole); `logits`: the
    loss takes the outputs as logits (from_logits: true), so they need no softmax or sigmoid."""
    warnings: list[str] = []

    def fail(msg: str, key: str = last_key) -> None:
        raise UserError(msg, key)

    if labels.kind == "positions":
        return _check_positions(task, labels, activation, loss, last_key, tuple(shape))
    if task == "classification":
        if labels.kind == "continuous":
            fail(f"task classification needs class labels, but the targets are continuous "
                 f"({labels.low:g}..{labels.high:g}); use task: regression", "task")
        if labels.kind == "multihot":
            fail("the labels have several 1s per row (multi-label); use task: multilabel "
                 "with a sigmoid output and binary_crossentropy", "task")
        n = labels.n_outputs
        if units != n:
            fail(f"the data has {n} classes but the last layer has {units} output units; "
                 f"use Dense: {{units: {n}, activation: softmax}}"
                 + ("; or, if the labels are quantities rather than classes, set task: regression" if units == 1
                    else ""))
        if activation == "sigmoid" and n > 2:
            warnings.append(f"{last_key}: sigmoid output on a {n}-class task; "
                            "softmax gives class probabilities that sum to 1")
        if loss == "binary_crossentropy":
            fail(f"binary_crossentropy on a {n}-class task; use "
                 f"{'categorical_crossentropy' if labels.kind == 'onehot' else 'sparse_categorical_crossentropy'} "
                 "with the softmax output", "loss")
        if loss == "categorical_crossentropy" and labels.kind == "integer":
            fail("categorical_crossentropy needs one-hot labels but the labels are integers; "
                 "use loss: sparse_categorical_crossentropy", "loss")
        if loss == "sparse_categorical_crossentropy" and labels.kind == "onehot":
            fail("sparse_categorical_crossentropy needs integer labels but the labels are one-hot; "
                 "use loss: categorical_crossentropy", "loss")
        if loss not in CROSS_ENTROPIES:
            if labels.kind == "integer":
                fail(f"{loss} on integer class labels compares a class index with {units} outputs; "
                     "use loss: sparse_categorical_crossentropy", "loss")
            warnings.append(f"loss: {loss} on a classification task; cross-entropy usually trains faster")
        if activation not in ("softmax", "sigmoid") and loss in CROSS_ENTROPIES and not logits:
            warnings.append(f"{last_key}: the output activation is {activation}, so the outputs are not "
                            "probabilities; add activation: softmax (or pass from_logits: true to the loss)")
    elif task in ("binary", "multilabel"):
        if labels.kind == "continuous" or labels.low < 0 or labels.high > 1:
            fail(f"task {task} needs 0/1 labels, found values {labels.low:g}..{labels.high:g}", "task")
        want = 1 if task == "binary" else labels.n_outputs
        if task == "binary" and labels.kind == "integer" and units == 2 and loss == "sparse_categorical_crossentropy":
            return warnings  # two softmax units with integer labels is a valid binary model
        if units != want:
            fail(f"task {task} with {want} label column(s) needs {want} output unit(s), the last layer "
                 f"has {units}; use Dense: {{units: {want}, activation: sigmoid}}")
        if activation == "softmax":
            what = "a single unit is always 1.0" if units == 1 else "softmax makes the labels compete"
            fail(f"softmax on a {task} output: {what}; use activation: sigmoid")
        if loss in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
            fail(f"{loss} on a {task} task; use loss: binary_crossentropy", "loss")
        if activation != "sigmoid" and loss == "binary_crossentropy" and not logits:
            warnings.append(f"{last_key}: the output activation is {activation}, not sigmoid; "
                            "add activation: sigmoid (or pass from_logits: true to the loss)")
    elif task == "regression":
        if units != labels.n_outputs:
            fail(f"the targets have {labels.n_outputs} column(s) but the last layer has {units} output "
                 f"units; use Dense: {{units: {labels.n_outputs}}} with no activation")
        if activation == "softmax":
            fail("softmax on a regression output forces the outputs to sum to 1; remove the activation")
        if activation == "sigmoid" and (labels.low < 0 or labels.high > 1):
            fail(f"sigmoid output can only reach 0..1 but the targets span {labels.low:g}..{labels.high:g}; "
                 "remove the activation (linear output) or scale the targets")
        bounded = labels.low >= 0 and labels.high <= 1
        if loss in CROSS_ENTROPIES and not (loss == "binary_crossentropy" and bounded):
            # binary_crossentropy on targets in [0, 1] (pixels of an autoencoder) is legal.
            fail(f"{loss} is for classification; use loss: mean_squared_error (or mae) for regression", "loss")
        if activation == "relu" and labels.low < 0:
            warnings.append(f"{last_key}: relu output cannot be negative but some targets are")
    return warnings


def _check_positions(task: str, labels: Labels, activation: str, loss: str, last_key: str,
                     shape: tuple[int | None, ...]) -> list[str]:
    """Integer labels at every step or cell: per-position classification, softmax over the last axis."""
    where = "x".join(map(str, labels.positions))
    if task != "classification":
        raise UserError(f"the labels are integer classes at each of {where} positions: per-position "
                        "classification; use task: classification (or float labels for regression)", "task")
    want = (*labels.positions, labels.n_outputs)
    if shape != want:
        raise UserError(f"labels of shape {list(labels.positions)} with {labels.n_outputs} classes need an output of "
                        f"shape {list(want)}, the model gives {list(shape)}; keep the steps (return_sequences: "
                        f"true) and end with Dense: {{units: {labels.n_outputs}, activation: softmax}}", last_key)
    if loss != "sparse_categorical_crossentropy":
        raise UserError(f"{loss} on per-position integer classes; use loss: sparse_categorical_crossentropy "
                        "(it scores the softmax at every position)", "loss")
    if activation != "softmax":
        return [f"{last_key}: the output activation is {activation}, so the outputs are not probabilities; "
                "add activation: softmax"]
    return []


def takes_logits(loss: Any) -> bool:
    """A config's loss that takes the outputs as logits (`{name: ..., from_logits: true}`): its model's
    outputs are scores, which `probabilities` turns into what predict, the threshold and the report show."""
    return isinstance(loss, dict) and bool(loss.get("from_logits", False))


def probabilities(out: np.ndarray, task: str, logits: bool) -> np.ndarray:
    """A classifier's outputs as probabilities: softmax (classification) or sigmoid (binary, multilabel)
    of logits; anything else as it is."""
    if not logits or task not in ("classification", "binary", "multilabel"):
        return out
    out = np.asarray(out, dtype="float64")
    if task == "classification":
        e = np.exp(out - out.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype("float32")
    return (1 / (1 + np.exp(-out))).astype("float32")
