"""Which way a metric improves: one rule for early stopping, checkpoints, folds, the leaderboard
and a search's study. Nothing here imports TensorFlow (a sweep ranks and searches without it).

A run records each compiled metric's direction as Keras' own metric object states it
(`Metric._direction`, what EarlyStopping's `mode="auto"` reads); that record wins. Before a
model exists (a search creating its study) or for a run without one, the metric's name decides:
the names below are those of Keras' rising metrics (tests/test_directions.py checks them against
every metric class Keras registers); everything else, losses and errors, falls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Direction = Literal["max", "min"]

RISING = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "io_u", "r2", "correlation",
          "cosine_similarity", "sensitivity", "specificity")


def base_name(metric: str) -> str:
    """`val_accuracy`, `val.accuracy`, `test.accuracy` -> `accuracy`: the metric as compiled."""
    for prefix in ("val_", "val.", "test_", "test."):
        if metric.startswith(prefix):
            return metric[len(prefix):]
    return metric


def direction(metric: str, recorded: Mapping[str, str] | None = None) -> Direction:
    """"max" when `metric` improves upwards, else "min"; `recorded`: a run's directions by metric name."""
    name = base_name(metric)
    found = (recorded or {}).get(name)
    if found in ("max", "min"):
        return found  # type: ignore[return-value]
    return "max" if any(w in name for w in RISING) else "min"


def best(values: list[float], metric: str, recorded: Mapping[str, str] | None = None) -> int:
    """The index of the best value of `metric` in `values` (the first on ties)."""
    pick = max if direction(metric, recorded) == "max" else min
    return values.index(pick(values))


def default_objective(monitor: str | None) -> str:
    """What sweeps, searches, cross-validation and the leaderboard choose by when no metric is named:
    the value early stopping watches (`early_stopping.monitor`) where it is a validation value, else
    `val_loss`; a monitored training value (`loss`) says nothing about unseen data. A logged name."""
    return monitor if monitor and monitor.startswith("val_") else "val_loss"
