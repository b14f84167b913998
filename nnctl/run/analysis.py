"""What a run's test predictions say: per-class precision/recall/F1, a confusion matrix, ROC and
precision-recall curves with a reliability diagram, the most confident mistakes, and the plots.

Called by `train` after testing and by `evaluate`, which refreshes the same files. A binary
classifier's labels come from its decision threshold (chosen on validation), not from 0.5.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.choices import SINGLE_LABEL
from nnctl.config import Config
from nnctl.data import Split
from nnctl.data.tables import output_names
from nnctl.run import plots
from nnctl.run.folder import RunFolder, read_json

MISCLASSIFIED = 25  # images in misclassified.png
MISTAKES = 10  # table or text rows in evaluation.json
CURVE_CLASSES = 10  # one-vs-rest curves drawn per class up to this many classes


def analyse(run: Path, y_pred: Any, test: Split, cfg: Config, class_names: Any,
            threshold: float = 0.5, columns: list[str] | None = None) -> dict[str, Any]:
    """Write run/plots/*.png from the test split's predictions; return the per-class table and
    confusion matrix for evaluation.json (under "outputs", per output, in the graph form).
    `threshold`: a binary classifier's decision threshold; `columns`: a numeric table's column names."""
    folder = RunFolder(run).plots
    folder.mkdir(exist_ok=True)
    history = read_history(run)
    if history:
        meta_best = _best_epoch(run)
        plots.learning_curves(history, meta_best, folder / "learning_curves.png", title=run.name)
    if cfg.graph is not None:  # each output on its own: plots named after it (confusion_matrix_origin.png)
        return {"outputs": {n: _output(folder, test, np.asarray(test.y[n]), y_pred[n], cfg.data.targets[n].task,
                                       (class_names or {}).get(n), None, [n], f"_{n}") for n in cfg.outputs}}
    steps = None
    if cfg.data.output_steps is not None:
        steps = str(cfg.data.target if isinstance(cfg.data.target, str) else (cfg.data.target or ["target"])[0])
    return _output(folder, test, np.asarray(test.y), y_pred, cfg.task, class_names, steps, output_names(cfg.data), "",
                   threshold, columns)


def _output(folder: Path, test: Split, y_true: np.ndarray, y_pred: np.ndarray, task: str | None,
            class_names: list[str] | None, forecast: str | None, names: list[str], suffix: str,
            threshold: float = 0.5, columns: list[str] | None = None) -> dict[str, Any]:
    """One output's analysis; `forecast` names the target of multi-step forecasts."""
    if task in SINGLE_LABEL:
        return _classes(folder, test, y_true, y_pred, task, class_names, suffix, threshold, columns)
    if task == "multilabel":
        labels = class_names or [str(i) for i in range(y_pred.shape[1])]
        return {"per_class": _report(y_true.astype(int), (y_pred >= 0.5).astype(int), labels)}
    if forecast is not None:  # multi-step forecasts: a few windows, forecast against actual
        plots.forecast(y_true, y_pred, forecast, folder / f"forecast{suffix}.png")
    if y_pred.reshape(len(y_pred), -1).shape[1] <= 6:  # not for image-shaped outputs (autoencoders)
        plots.predictions(y_true, y_pred, names, folder / f"predictions{suffix}.png")
    return {}


def _classes(folder: Path, test: Split, y_true: np.ndarray, y_pred: np.ndarray, task: str,
             class_names: list[str] | None, suffix: str = "", threshold: float = 0.5,
             columns: list[str] | None = None) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix

    positions = y_true.ndim >= 2 and y_pred.ndim == y_true.ndim + 1 and y_true.dtype.kind in "iu"
    if positions:  # a class at every step or cell: every position is one prediction
        n = y_pred.shape[-1]
        pred, y_true = y_pred.argmax(axis=-1).reshape(-1), y_true.reshape(-1)
        probs = None
    elif task == "binary":
        scores = y_pred.reshape(len(y_pred), -1)[:, 0].astype("float64")
        pred, n = (scores >= threshold).astype(int), 2
        probs = np.stack([1 - scores, scores], axis=1)
    else:
        probs = y_pred.reshape(len(y_pred), -1).astype("float64")
        pred, n = probs.argmax(axis=1), probs.shape[1]
    true = y_true.argmax(axis=1) if y_true.ndim == 2 and y_true.shape[1] > 1 else y_true.reshape(-1).astype(int)
    names = class_names if class_names and len(class_names) == n else [str(i) for i in range(n)]
    matrix = confusion_matrix(true, pred, labels=list(range(n)))
    plots.confusion_matrix(matrix, names, folder / f"confusion_matrix{suffix}.png")
    out: dict[str, Any] = {"per_class": _report(true, pred, names), "confusion_matrix": matrix.tolist(),
                           "class_names": names}
    if probs is None or len(true) == 0:
        return out
    out["curves"] = _curves(folder / f"curves{suffix}.png", true, probs, names, threshold if n == 2 else None)
    # The most confident mistakes first: what the model is surest of and wrong about.
    confidence = probs[np.arange(len(pred)), pred]
    wrong = np.flatnonzero(pred != true)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]
    x = test.x
    if isinstance(x, np.ndarray) and x.ndim in (3, 4) and (x.ndim == 3 or x.shape[-1] in (1, 3)):
        if len(wrong):
            shown = wrong[:MISCLASSIFIED]
            plots.misclassified(x[shown], [names[t] for t in true[shown]], [names[p] for p in pred[shown]],
                                confidence[shown], folder / f"misclassified{suffix}.png")
    if isinstance(x, np.ndarray) and x.ndim == 2 and columns and len(columns) == x.shape[1]:
        x = {c: x[:, j] for j, c in enumerate(columns)}  # a numeric table held as one matrix
    out["mistakes"] = [{"index": int(i), "true": names[true[i]], "predicted": names[pred[i]],
                        "confidence": float(confidence[i]), **({"row": _row(x, i)} if isinstance(x, dict) else {})}
                       for i in wrong[:MISTAKES]]
    return out


def _curves(path: Path, true: np.ndarray, probs: np.ndarray, names: list[str],
            threshold: float | None) -> dict[str, Any]:
    """ROC, precision-recall and reliability on the test split: one-vs-rest per class, the
    positive class alone for a binary classifier, its decision threshold marked."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    n = probs.shape[1]
    shown = [1] if n == 2 else list(range(min(n, CURVE_CLASSES)))
    present = [c for c in shown if 0 < int((true == c).sum()) < len(true)]
    out: dict[str, Any] = {
        "roc_auc": {names[c]: float(roc_auc_score(true == c, probs[:, c])) for c in present},
        "average_precision": {names[c]: float(average_precision_score(true == c, probs[:, c])) for c in present},
    }
    confidence = probs.max(axis=1) if n > 2 else probs[:, 1]
    hit = (probs.argmax(axis=1) == true) if n > 2 else (true == 1)
    bins = np.clip((confidence * 10).astype(int), 0, 9)
    counts = np.bincount(bins, minlength=10)
    mean_conf = np.bincount(bins, confidence, 10) / np.maximum(counts, 1)
    mean_hit = np.bincount(bins, hit.astype(float), 10) / np.maximum(counts, 1)
    # Expected calibration error: the bins' gap between confidence and frequency, weighed by their size.
    out["calibration_error"] = float(np.sum(counts * np.abs(mean_conf - mean_hit)) / max(len(true), 1))
    if present:
        plots.classifier_curves(true, probs, [names[c] for c in present], present, threshold,
                                (mean_conf, mean_hit, counts), n == 2, path)
    return out


def _row(x: dict[str, Any], i: int) -> dict[str, str]:
    """One table or text row's inputs as text, a missing value as empty."""
    row = {}
    for k, v in x.items():
        value = np.asarray(v[i]).ravel()
        value = value[0] if value.size == 1 else value
        missing = value is None or (isinstance(value, (float, np.floating)) and np.isnan(value))
        row[k] = "" if missing else str(value)
    return row


def _report(true: np.ndarray, pred: np.ndarray, names: list[str]) -> dict[str, dict[str, float]]:
    """precision, recall, f1 and support per class (and the macro/weighted averages), as scikit-learn gives them."""
    from sklearn.metrics import classification_report

    labels = list(range(len(names)))
    report = classification_report(true, pred, labels=labels if true.ndim == 1 else None, target_names=names,
                                   output_dict=True, zero_division=0)
    return {k: {m: float(v) for m, v in row.items()} for k, row in report.items() if isinstance(row, dict)}


def read_history(run: Path) -> list[dict[str, float]]:
    try:
        with open(RunFolder(run).history) as f:
            return [{k: float(v) for k, v in row.items() if k != "epoch" and v != ""} for row in csv.DictReader(f)]
    except (OSError, ValueError):
        return []


def _best_epoch(run: Path) -> int | None:
    best = (read_json(RunFolder(run).metrics) or {}).get("best_epoch")
    return best if isinstance(best, int) else None
