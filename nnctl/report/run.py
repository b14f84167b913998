"""One run's section of a report, read from its folder: status first, then the config with its
`--set` overrides marked, the data, the model, the learning curves, the metrics beside the naive
baseline, what the test predictions say (per output in the graph form), and how it ran.

Reads files only (metrics.json, config.yaml, evaluation.json, history.csv, summary.txt, plots/):
no TensorFlow, and a failed or half-written run still gets a page saying what there is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnctl.config import flatten, flow, parse_override, read_yaml
from nnctl.directions import direction
from nnctl.errors import UserError
from nnctl.report.page import image, uri
from nnctl.run import analysis, plots
from nnctl.run.folder import RunFolder, read_json

PATIENCE = 3  # epochs of training improving while validation does not before the page says so


def section(path: Path) -> dict[str, Any]:
    """Everything the template's run section shows, as plain values (the template escapes them)."""
    folder = RunFolder(path)
    meta = read_json(folder.metrics) or {}
    folds = meta.get("folds") if isinstance(meta.get("folds"), dict) else None
    # Cross-validation: the metrics are the folds' means; the figures are the kept model's fold's.
    kept = RunFolder(path / folds["model_from"]) if folds and folds.get("model_from") else folder
    evaluation = read_json(kept.evaluation) or {}
    history = analysis.read_history(kept.path)
    config = meta.get("hparams") if isinstance(meta.get("hparams"), dict) else _config(folder.config)
    overridden = {parse_override(o)[0] for o in meta.get("overrides") or [] if "=" in o}
    outputs = evaluation.get("outputs") or ({"": evaluation} if evaluation else {})
    return {
        "name": path.name,
        "path": str(path),
        "status": meta.get("status", "unknown (no metrics.json)"),
        "reason": meta.get("reason"),
        "warnings": meta.get("warnings") or [],
        "task": meta.get("task"),
        "epochs": meta.get("epochs"), "best_epoch": meta.get("best_epoch"), "kept_epoch": meta.get("kept_epoch"),
        "duration_s": meta.get("duration_s"),
        "config": [(k, shown(v), k in overridden) for k, v in config.items()],
        "overrides": meta.get("overrides") or [],
        "data": _data(meta.get("dataset") or {}),
        "summary": _text(folder.summary),
        "folds": folds and {"k": folds.get("k"), "model_from": folds.get("model_from")},
        "curves": _curves(kept.path, history, (read_json(kept.metrics) or {}).get("best_epoch")),
        "notes": notes(history, (meta.get("best") or {}).get("monitor"), meta.get("directions") or {}),
        "metrics": _metrics(meta),
        "baseline": (meta.get("baseline") or {}).get("kind"),
        "decision": meta.get("decision"),
        "outputs": [_output(kept.plots, name, out) for name, out in outputs.items()],
        "importance": evaluation.get("importance"),
        "evaluated_on": evaluation.get("data"),  # `nnctl evaluate` on another source rewrote the analysis
        "footer": {"precision": meta.get("precision"), "throughput": meta.get("throughput"),
                   "versions": meta.get("versions") or {}, "params": meta.get("params") or {},
                   "distribution": meta.get("distribution") or {}, "threads": meta.get("threads") or {}},
    }


def shown(value: Any) -> str:
    """A config value as a user writes it (YAML: null, true, [28, 28]), never Python's repr."""
    return value if isinstance(value, str) else flow(value)


def _config(path: Path) -> dict[str, Any]:
    try:
        return flatten(read_yaml(path))
    except UserError:
        return {}


def _text(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _data(ds: dict[str, Any]) -> dict[str, Any]:
    names = ds.get("class_names") if isinstance(ds.get("class_names"), list) else None
    balance = ds.get("balance") or {}
    n = max((len(v) for v in balance.values()), default=0)
    classes = [(names[i] if names and i < len(names) else str(i), [balance[s][i] if i < len(balance[s]) else 0
                                                                  for s in balance]) for i in range(n)]
    return {"name": ds.get("name"), "source": ds.get("source"), "fallback": ds.get("fallback"),
            "sizes": ds.get("sizes") or {}, "fingerprints": ds.get("fingerprints") or {},
            "input_shape": shown(ds.get("input_shape")), "columns": ds.get("columns") or [],
            "dropped": {k: v for k, v in (ds.get("dropped_rows") or {}).items() if v},
            "balance_splits": list(balance), "classes": classes}


def _curves(path: Path, history: list[dict[str, float]], best: Any) -> str | None:
    """The learning curves training drew; drawn here for a run that ended before it could."""
    drawn = image(RunFolder(path).plots / "learning_curves.png")
    if drawn or not history:
        return drawn
    import io

    buf = io.BytesIO()
    plots.learning_curves(history, best if isinstance(best, int) else None, buf, title=path.name)
    return uri(buf.getvalue())


def notes(history: list[dict[str, float]], monitor: str | None, directions: dict[str, str]) -> list[str]:
    """Plain-language notes on the curves: validation loss (or the monitored value) that stopped
    improving while its training value kept improving."""
    out = []
    watched = {"loss", *([monitor.removeprefix("val_")] if isinstance(monitor, str) else [])}
    for name in [n for n in dict.fromkeys(k.removeprefix("val_") for row in history for k in row) if n in watched]:
        train = [row.get(name) for row in history]
        val = [row.get(f"val_{name}") for row in history]
        if any(v is None for v in train + val) or len(val) < PATIENCE + 2:
            continue
        sign = 1 if direction(name, directions) == "max" else -1
        best_val = max(range(len(val)), key=lambda i: (sign * val[i], -i))
        later = train[best_val:]
        if len(val) - 1 - best_val >= PATIENCE and sign * (later[-1] - later[0]) > 0:
            out.append(f"validation {name} stopped improving after epoch {best_val + 1} while training {name} kept "
                       f"improving for {len(val) - 1 - best_val} more epochs: the model began to fit the training "
                       "split's noise (overfitting). Early stopping, dropout or more data would help.")
    return out


def _metrics(meta: dict[str, Any]) -> list[dict[str, Any]]:
    val, test = meta.get("val") or {}, meta.get("test") or {}
    base = meta.get("baseline") or {}
    folds = meta.get("folds") if isinstance(meta.get("folds"), dict) else {}
    return [{"name": k, "val": val.get(k), "test": test.get(k), "base_val": (base.get("val") or {}).get(k),
             "base_test": (base.get("test") or {}).get(k), "val_std": (folds.get("val_std") or {}).get(k),
             "test_std": (folds.get("test_std") or {}).get(k)} for k in dict.fromkeys([*val, *test])]


def _output(plots_dir: Path, name: str, out: dict[str, Any]) -> dict[str, Any]:
    suffix = f"_{name}" if name else ""
    per_class = out.get("per_class") or {}
    mistakes = out.get("mistakes") or []
    columns = list(dict.fromkeys(k for m in mistakes for k in m.get("row", {})))
    curves = out.get("curves") or {}
    return {
        "name": name,
        "per_class": [(k, row) for k, row in per_class.items() if k != "accuracy"],
        "confusion": image(plots_dir / f"confusion_matrix{suffix}.png"),
        "curves": image(plots_dir / f"curves{suffix}.png"),
        "roc_auc": curves.get("roc_auc") or {}, "average_precision": curves.get("average_precision") or {},
        "calibration_error": curves.get("calibration_error"),
        "misclassified": image(plots_dir / f"misclassified{suffix}.png"),
        "mistakes": mistakes, "mistake_columns": columns,
        "predictions": image(plots_dir / f"predictions{suffix}.png"),
        "forecast": image(plots_dir / f"forecast{suffix}.png"),
    }

