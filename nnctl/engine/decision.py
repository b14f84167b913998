"""A binary classifier's decision threshold, chosen on the validation split and never on test.

By default the threshold maximises F1 on validation among the cuts that predict both classes there
(`decision.threshold_metric` picks accuracy or balanced accuracy instead); `decision.threshold`
fixes it. The test split is then scored at that
threshold, to report, never to choose. Every cut point comes from scikit-learn's `roc_curve`:
the true and false positives at each threshold give all three metrics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT = 0.5  # where there is nothing to choose on


def choose(y: np.ndarray, p: np.ndarray, metric: str = "f1") -> tuple[float, float]:
    """(threshold, its value of `metric`) for labels `y` (0/1) and positive-class scores `p`;
    a row is predicted positive when its score is at least the threshold."""
    from sklearn.metrics import roc_curve

    y, p = np.asarray(y).ravel().astype(int), np.asarray(p).ravel().astype("float64")
    if y.min() == y.max():  # one class only: no curve to choose on
        return DEFAULT, at(y, p, DEFAULT)[metric]
    fpr, tpr, thresholds = roc_curve(y, p, drop_intermediate=False)
    # The first cut (inf) predicts nothing positive, the last everything: neither is a decision. A weak
    # model's F1 is otherwise highest at "everything positive" when positives are the majority.
    keep = slice(1, -1) if len(thresholds) > 2 else slice(1, None)
    fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    positives, negatives = y.sum(), len(y) - y.sum()
    tp, fp = tpr * positives, fpr * negatives
    values = {"f1": 2 * tp / np.maximum(2 * tp + fp + (positives - tp), 1e-12),
              "accuracy": (tp + negatives - fp) / len(y),
              "balanced_accuracy": (tpr + 1 - fpr) / 2}[metric]
    best = int(np.argmax(values))  # the highest threshold among equals: the fewest positives
    return float(thresholds[best]), float(values[best])


def at(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and balanced accuracy when predicting `p >= threshold`."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, precision_score, recall_score

    y, pred = np.asarray(y).ravel().astype(int), (np.asarray(p).ravel() >= threshold).astype(int)
    return {"accuracy": float(accuracy_score(y, pred)),
            "precision": float(precision_score(y, pred, zero_division=0)),
            "recall": float(recall_score(y, pred, zero_division=0)), "f1": float(f1_score(y, pred, zero_division=0)),
            "balanced_accuracy": float(balanced_accuracy_score(y, pred)) if y.min() != y.max() else float("nan")}


def decide(spec: Any, val: tuple[np.ndarray, np.ndarray] | None) -> dict[str, Any]:
    """metrics.json's `decision` before the test: the threshold and how it was chosen, with its
    validation values. `spec`: the config's `decision` (None: the defaults); `val`: (labels, scores)."""
    metric = spec.threshold_metric if spec is not None else "f1"
    if spec is not None and spec.threshold is not None:
        out: dict[str, Any] = {"threshold": spec.threshold, "chosen_by": "decision.threshold"}
    elif val is None:
        out = {"threshold": DEFAULT, "chosen_by": "no validation split: 0.5"}
    else:
        threshold, _ = choose(val[0], val[1], metric)
        out = {"threshold": threshold, "chosen_by": f"{metric} on the validation split"}
    if val is not None:
        out["val"] = at(val[0], val[1], out["threshold"])
    return out
