"""The run folder's figures, drawn with matplotlib (Agg: files only, no display needed)."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

DPI = 110


def import_soon() -> None:
    """Import matplotlib (0.4 s) on another thread while a model trains: the training loop waits
    in TensorFlow's C++ with the GIL released, so the plots at the end find it imported."""

    def work() -> None:
        try:
            import matplotlib.backends.backend_agg  # noqa: F401
            import matplotlib.figure  # noqa: F401
        except Exception:  # noqa: BLE001, S110  (the plots import it again and report what fails)
            pass

    threading.Thread(target=work, name="nnctl-plots-import", daemon=True).start()


def _figure(rows: int, cols: int, figsize: tuple[float, float]) -> tuple[Any, Any]:
    """A figure and its axes grid, without pyplot: no global figure registry to close, 0.16 s less import."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _metrics(history: list[dict[str, float]]) -> list[str]:
    """Base metric names in log order, loss first: val_x is drawn on x's panel."""
    names = list(dict.fromkeys(k.removeprefix("val_") for row in history for k in row if k != "learning_rate"))
    return sorted(names, key=lambda n: n != "loss")


def learning_curves(history: list[dict[str, float]], best_epoch: int | None, path: Path | BinaryIO,
                    title: str = "") -> None:
    """One panel per metric, train vs validation, the best epoch marked."""
    names = _metrics(history)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = _figure(rows, cols, (4.6 * cols, 3.4 * rows))
    epochs = np.arange(1, len(history) + 1)
    for ax, name in zip(axes.flat, names, strict=False):
        for key, label, style in ((name, "train", "-"), (f"val_{name}", "validation", "--")):
            values = [row.get(key, np.nan) for row in history]
            if not np.all(np.isnan(values)):
                ax.plot(epochs, values, style, marker="o" if len(epochs) <= 30 else None, markersize=3, label=label)
        if best_epoch:
            ax.axvline(best_epoch, color="grey", linestyle=":", linewidth=1, label=f"best epoch ({best_epoch})")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if len(epochs) <= 20:
            ax.set_xticks(epochs)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)


def compare(curves: dict[str, list[dict[str, float]]], path: Path | BinaryIO) -> None:
    """Several runs' learning curves overlaid, one panel per metric; solid train, dashed validation."""
    import matplotlib

    names = list(dict.fromkeys(n for h in curves.values() for n in _metrics(h)))
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = _figure(rows, cols, (5 * cols, 3.6 * rows))
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes.flat, names, strict=False):
        for i, (run, history) in enumerate(curves.items()):
            epochs = np.arange(1, len(history) + 1)
            colour = colours[i % len(colours)]
            for key, style, label in ((name, "-", run), (f"val_{name}", "--", None)):
                values = [row.get(key, np.nan) for row in history]
                if not np.all(np.isnan(values)):
                    ax.plot(epochs, values, style, color=colour, label=label)
        ax.set_title(f"{name}  (solid: train, dashed: validation)", fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)


def confusion_matrix(matrix: np.ndarray, class_names: list[str], path: Path) -> None:
    """Counts per (true, predicted) class; colour by the share of each true class."""
    n = len(class_names)
    size = min(14, max(4.5, 0.55 * n + 2.5))
    fig, axes = _figure(1, 1, (size, size * 0.9))
    ax = axes[0, 0]
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    slanted = n > 5 and max(map(len, class_names)) > 3
    ax.set_xticks(range(n), labels=class_names, rotation=45 if slanted else 0, ha="right" if slanted else "center")
    ax.set_yticks(range(n), labels=class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8 if n > 12 else 10,
                        color="white" if share[i, j] > 0.5 else "black")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"confusion matrix (test, accuracy {accuracy:.3f})")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)


def predictions(y_true: np.ndarray, y_pred: np.ndarray, names: list[str], path: Path) -> None:
    """For each regression target (up to 6): predicted against true with the ideal diagonal, and the
    residuals (true - predicted) against the prediction, where a pattern means a bias the model left."""
    y_true, y_pred = y_true.reshape(len(y_true), -1), y_pred.reshape(len(y_pred), -1)
    k = min(6, y_true.shape[1])
    fig, axes = _figure(k, 2, (8.8, 3.9 * k))
    for j in range(k):
        ax, res = axes[j]
        t, p = y_true[:, j], y_pred[:, j]
        lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
        ax.scatter(t, p, s=10, alpha=0.6)
        ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1, label="ideal")
        mae = float(np.mean(np.abs(t - p)))
        name = names[j] if j < len(names) else "target" if k == 1 else f"target {j}"
        ax.set(title=f"test: {name}  (MAE {mae:.4g})", xlabel="true", ylabel="predicted")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        res.scatter(p, t - p, s=10, alpha=0.6)
        res.axhline(0, color="grey", linestyle="--", linewidth=1)
        res.set(title=f"residuals: {name}", xlabel="predicted", ylabel="true - predicted")
        res.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)


def forecast(y_true: np.ndarray, y_pred: np.ndarray, name: str, path: Path, examples: int = 4) -> None:
    """Multi-step forecasts against what happened, for a few test windows spread over the split."""
    y_true, y_pred = y_true.reshape(len(y_true), y_true.shape[1], -1), y_pred.reshape(len(y_pred), y_true.shape[1], -1)
    picks = np.unique(np.linspace(0, len(y_true) - 1, min(examples, len(y_true))).astype(int))
    fig, axes = _figure(1, len(picks), (4.2 * len(picks), 3.6))
    steps = np.arange(1, y_true.shape[1] + 1)
    for ax, i in zip(axes.flat, picks, strict=False):
        ax.plot(steps, y_true[i, :, 0], marker="o", markersize=3, label="actual")
        ax.plot(steps, y_pred[i, :, 0], marker="o", markersize=3, linestyle="--", label="forecast")
        ax.set_title(f"test window {i}: {name}")
        ax.set_xlabel("steps ahead")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)


def misclassified(images: np.ndarray, true: list[str], predicted: list[str], confidence: np.ndarray,
                  path: Path) -> None:
    """Up to 25 wrongly classified test images, the most confident first, titled true -> predicted (confidence).

    One image of tiles, not one panel per example: a 25-panel figure took 0.4 s to lay out.
    """
    from matplotlib.figure import Figure

    n = len(images)
    cols = min(5, n)
    rows = math.ceil(n / cols)
    tiles = [_unit(np.asarray(img, dtype="float32")) for img in images]
    h, w = tiles[0].shape[:2]
    channels = tiles[0].shape[2] if tiles[0].ndim == 3 else None
    gap, label = max(2, h // 10), max(7, int(h * 0.3))  # pixels between tiles and above each, for its title
    shape = (rows * (h + gap + label), cols * (w + gap)) + ((channels,) if channels else ())
    sheet = np.ones(shape, "float32")
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        top, left = r * (h + gap + label) + label, c * (w + gap)
        sheet[top:top + h, left:left + w] = tile
    scale = 2.1 / (w + gap)  # inches per pixel: each tile about 2 inches wide
    fig = Figure(figsize=(max(3.0, shape[1] * scale), shape[0] * scale + 0.4))
    ax = fig.add_axes((0, 0, 1, shape[0] * scale / (shape[0] * scale + 0.4)))
    ax.imshow(sheet, cmap="gray" if channels is None else None, vmin=0, vmax=1, interpolation="nearest")
    for k, (t, p, conf) in enumerate(zip(true, predicted, confidence, strict=False)):
        r, c = divmod(k, cols)
        ax.text(c * (w + gap) + w / 2, r * (h + gap + label) + label - 2, f"{t} → {p} ({conf:.2f})", ha="center",
                va="bottom", fontsize=7, color="firebrick")
    ax.axis("off")
    fig.suptitle("most confident mistakes on test (true → predicted (confidence))", fontsize=10, y=0.995, va="top")
    fig.savefig(path, dpi=DPI)


def _unit(img: np.ndarray) -> np.ndarray:
    """One image scaled to [0, 1], a single channel squeezed out."""
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    lo, hi = float(img.min()), float(img.max())
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def search(trials: list[dict[str, Any]], objective: str, direction: str, params: list[str], path: Path) -> None:
    """A searching sweep at a glance: the objective per trial with the best so far, then the
    objective against each parameter (pruned and failed trials have no value and are left out)."""
    done = [t for t in trials if t["value"] is not None]
    if not done:
        return
    fig, axes = _figure(1, 1 + len(params), (4.2 * (1 + len(params)), 3.4))
    ax = axes[0][0]
    numbers, values = [t["number"] for t in done], [t["value"] for t in done]
    best = np.maximum.accumulate(values) if direction == "maximize" else np.minimum.accumulate(values)
    ax.scatter(numbers, values, s=18, label="trial")
    ax.step(numbers, best, where="post", color="tab:red", label="best so far")
    ax.set(xlabel="trial", ylabel=objective, title="search")
    ax.legend(fontsize=8)
    for ax, key in zip(axes[0][1:], params, strict=True):
        xs = [t["params"].get(key) for t in done]
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs):
            ax.scatter(xs, values, s=18)
            if min(xs) > 0 and max(xs) / min(xs) > 50:
                ax.set_xscale("log")
        else:  # choices: one column per distinct value, in first-seen order
            labels = list(dict.fromkeys(str(x) for x in xs))
            ax.scatter([labels.index(str(x)) for x in xs], values, s=18)
            ax.set_xticks(range(len(labels)), labels=labels, fontsize=7)
        ax.set(xlabel=key, ylabel=objective)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)


def classifier_curves(true: np.ndarray, probs: np.ndarray, names: list[str], classes: list[int],
                      threshold: float | None, reliability: tuple[np.ndarray, np.ndarray, np.ndarray], binary: bool,
                      path: Path) -> None:
    """ROC and precision-recall curves (the positive class, or each class against the rest) with a
    binary classifier's decision threshold marked, and the reliability diagram."""
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    fig, axes = _figure(1, 3, (13.5, 4.2))
    roc_ax, pr_ax, cal_ax = axes[0]
    for name, c in zip(names, classes, strict=True):
        fpr, tpr, _ = roc_curve(true == c, probs[:, c])
        precision, recall, _ = precision_recall_curve(true == c, probs[:, c])
        label = "positive class" if binary else name
        roc_ax.plot(fpr, tpr, label=f"{label} (AUC {auc(fpr, tpr):.3f})")
        pr_ax.plot(recall, precision, label=label)
    if threshold is not None:  # where the chosen threshold puts the test split
        pred, pos = probs[:, 1] >= threshold, true == 1
        tp, fp = float((pred & pos).sum()), float((pred & ~pos).sum())
        tpr_at, fpr_at = tp / max(pos.sum(), 1), fp / max((~pos).sum(), 1)
        prec_at = tp / max(tp + fp, 1)
        roc_ax.plot([fpr_at], [tpr_at], "o", color="tab:red", label=f"threshold {threshold:.3g}")
        pr_ax.plot([tpr_at], [prec_at], "o", color="tab:red", label=f"threshold {threshold:.3g}")
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    roc_ax.set(title="ROC (test)", xlabel="false positive rate", ylabel="true positive rate")
    pr_ax.set(title="precision-recall (test)", xlabel="recall", ylabel="precision", ylim=(0, 1.02))
    conf, hit, counts = reliability
    used = counts > 0
    cal_ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="calibrated")
    cal_ax.plot(conf[used], hit[used], marker="o", label="model")
    cal_ax.set(title="reliability (test)", xlabel="predicted probability" if binary else "confidence",
               ylabel="observed frequency" if binary else "accuracy", xlim=(0, 1), ylim=(0, 1.02))
    for ax in (roc_ax, pr_ax, cal_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right" if ax is not pr_ax else "lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
