"""The naive baseline a model must beat: the training split's majority class for a classifier, its
mean for a regression, scored on validation and test with the run's own metric names.

Only the metrics whose naive value is well defined are scored (accuracy, the cross-entropy of the
class frequencies, MSE/MAE/RMSE/R² of the mean); the report shows the rest without one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ACCURACY = {"accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy"}
MSE = {"mse", "mean_squared_error", "meansquarederror"}
MAE = {"mae", "mean_absolute_error", "meanabsoluteerror"}
RMSE = {"rmse", "root_mean_squared_error", "rootmeansquarederror"}
R2 = {"r2", "r2_score", "r2score"}
CROSSENTROPY = {"sparsecategoricalcrossentropy", "categoricalcrossentropy", "binarycrossentropy",
                "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy"}


def naive(task: str | None, loss: Any, train_y: Any, splits: dict[str, Any], metrics: list[str],
          class_names: list[str] | None = None) -> dict[str, Any] | None:
    """{"kind", "val": {metric: value}, "test": {...}} for a stack's single output; None where no
    naive prediction applies (multi-label, several outputs, labels at every step)."""
    if not isinstance(train_y, np.ndarray) or len(train_y) == 0:
        return None
    loss_name = (loss if isinstance(loss, str) else next(iter(loss), "") if isinstance(loss, dict) else "").lower()
    if task in ("classification", "binary"):
        codes = _codes(train_y)
        if codes is None:
            return None
        counts = np.bincount(codes, minlength=2 if task == "binary" else 0).astype(float)
        majority = int(counts.argmax())
        prior = np.clip(counts / counts.sum(), 1e-7, 1)
        name = class_names[majority] if class_names and majority < len(class_names) else str(majority)
        out: dict[str, Any] = {"kind": f"always the training split's majority class ({name})"}
        for split, y in splits.items():
            c = _codes(y)
            if c is None or len(c) == 0 or c.max() >= len(prior):
                continue
            scores = {"accuracy": float(np.mean(c == majority)), "crossentropy": float(-np.mean(np.log(prior[c])))}
            out[split] = _named(scores, metrics, loss_name)
        return out
    if task == "regression":
        train = train_y.reshape(len(train_y), -1).astype("float64")
        mean = train.mean(axis=0)
        out = {"kind": "always the training split's mean" + (f" ({mean[0]:.4g})" if mean.size == 1 else "")}
        for split, y in splits.items():
            if not isinstance(y, np.ndarray) or len(y) == 0:
                continue
            y = y.reshape(len(y), -1).astype("float64")
            err = y - mean
            sst = float(np.sum((y - y.mean(axis=0)) ** 2))
            mse = float(np.mean(err**2))
            scores = {"mse": mse, "mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(mse)),
                      "r2": 1 - float(np.sum(err**2)) / sst if sst > 0 else float("nan")}
            out[split] = _named(scores, metrics, loss_name)
        return out
    return None


def _codes(y: Any) -> np.ndarray | None:
    """Class indices from integer labels or one-hot rows; None for anything else."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    y = y.reshape(-1) if y.ndim == 2 else y
    if y.ndim != 1 or y.dtype.kind not in "iubf" or (y.dtype.kind == "f" and not np.all(y == np.round(y))):
        return None
    return y.astype(int) if len(y) == 0 or y.min() >= 0 else None


def _named(scores: dict[str, float], metrics: list[str], loss_name: str) -> dict[str, float]:
    """The naive scores under the run's own metric names (loss: the configured loss, where known)."""
    out = {}
    for name in metrics:
        key = name.lower()
        if key == "loss":
            key = loss_name
        kind = ("accuracy" if key in ACCURACY else "crossentropy" if key in CROSSENTROPY else "mse" if key in MSE
                else "mae" if key in MAE else "rmse" if key in RMSE else "r2" if key in R2 else None)
        if kind in scores:
            out[name] = scores[kind]
    return out
