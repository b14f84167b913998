"""What a run's test predictions say: per-class precision/recall/F1, a confusion matrix, and the plots.

Called by `train` after testing and by `evaluate`, which refreshes the same files.
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

MISCLASSIFIED = 25


def analyse(run: Path, y_pred: Any, test: Split, cfg: Config, class_names: Any) -> dict[str, Any]:
    """Write run/plots/*.png from the test split's predictions; return the per-class table and
    confusion matrix for evaluation.json (under "outputs", per output, in the graph form)."""
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
    return _output(folder, test, np.asarray(test.y), y_pred, cfg.task, class_names, steps, output_names(cfg.data), "")


def _output(folder: Path, test: Split, y_true: np.ndarray, y_pred: np.ndarray, task: str | None,
            class_names: list[str] | None, forecast: str | None, names: list[str], suffix: str) -> dict[str, Any]:
    """One output's analysis; `forecast` names the target of multi-step forecasts."""
    if task in SINGLE_LABEL:
        return _classes(folder, test, y_true, y_pred, task, class_names, suffix)
    if task == "multilabel":
        labels = class_names or [str(i) for i in range(y_pred.shape[1])]
        return {"per_class": _report(y_true.astype(int), (y_pred >= 0.5).astype(int), labels)}
    if forecast is not None:  # multi-step forecasts: a few windows, forecast against actual
        plots.forecast(y_true, y_pred, forecast, folder / f"forecast{suffix}.png")
    if y_pred.reshape(len(y_pred), -1).shape[1] <= 6:  # not for image-shaped outputs (autoencoders)
        plots.predictions(y_true, y_pred, names, folder / f"predictions{suffix}.png")
    return {}


def _classes(folder: Path, test: Split, y_true: np.ndarray, y_pred: np.ndarray, task: str,
             class_names: list[str] | None, suffix: str = "") -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix

    positions = y_true.ndim >= 2 and y_pred.ndim == y_true.ndim + 1 and y_true.dtype.kind in "iu"
    if positions:  # a class at every step or cell: every position is one prediction
        n = y_pred.shape[-1]
        pred, y_true = y_pred.argmax(axis=-1).reshape(-1), y_true.reshape(-1)
    elif task == "binary":
        pred = (y_pred.reshape(len(y_pred), -1)[:, 0] >= 0.5).astype(int)
        n = 2
    else:
        pred = y_pred.reshape(len(y_pred), -1).argmax(axis=1)
        n = y_pred.reshape(len(y_pred), -1).shape[1]
    true = y_true.argmax(axis=1) if y_true.ndim == 2 and y_true.shape[1] > 1 else y_true.reshape(-1).astype(int)
    names = class_names if class_names and len(class_names) == n else [str(i) for i in range(n)]
    matrix = confusion_matrix(true, pred, labels=list(range(n)))
    plots.confusion_matrix(matrix, names, folder / f"confusion_matrix{suffix}.png")
    x = test.x
    if not positions and isinstance(x, np.ndarray) and x.ndim in (3, 4) and (x.ndim == 3 or x.shape[-1] in (1, 3)):
        wrong = np.flatnonzero(pred != true)[:MISCLASSIFIED]
        if len(wrong):
            plots.misclassified(x[wrong], [names[t] for t in true[wrong]], [names[p] for p in pred[wrong]],
                                folder / f"misclassified{suffix}.png")
    return {"per_class": _report(true, pred, names), "confusion_matrix": matrix.tolist(), "class_names": names}


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
