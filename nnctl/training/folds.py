"""Cross-validation (`data.folds: K`): K ordinary fold runs (`fold-1` ... `fold-K`) inside one run
folder, each validated on its own fold of the training data; the test split stays out of every
fold. The folder's metrics.json holds each metric's mean (as `val` / `test`, so rankings and
sweeps use the folds' mean), its standard deviation and the per-fold values; its model.keras is
the fold model with the best validation value (chosen on validation, never test).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from nnctl.config import Config, dump_yaml
from nnctl.directions import best, default_objective
from nnctl.engine.prepare import prepare
from nnctl.engine.reporter import NullReporter, Reporter
from nnctl.run.folder import MODEL, SUMMARY, RunFolder


def train_folds(cfg: Config, config_dir: Path | None, runs_dir: Path, reporter: Reporter | None = None,
                mlflow: bool = False) -> tuple[Path, dict[str, Any]]:
    """Train the K folds; returns (the folder, the result `nnctl train --json` prints)."""
    from nnctl.run.text import sizes_line
    from nnctl.training.trainer import train

    reporter = reporter or NullReporter()
    k = int(cfg.data.folds)
    parent = RunFolder.create(runs_dir, cfg.name or "run")
    began = time.time()
    done: list[tuple[Path, Any]] = []
    resolved: dict[str, Any] = {}
    for i in range(1, k + 1):
        fold_cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"fold": i})})
        prep = prepare(fold_cfg, config_dir, distributed=True)
        for w in prep.warnings:
            reporter.note(f"warning: {w}")
        reporter.note(f"training {prep.cfg.name} fold {i}/{k}: {sizes_line(prep.data.sizes())} examples, "
                      f"{prep.cfg.epochs} epochs")
        into = parent.path / f"fold-{i}"
        into.mkdir()
        path, rec = train(prep, runs_dir, reporter, into=into, mlflow=mlflow)
        done.append((path, rec))
        resolved = prep.resolved()
    resolved["data"]["fold"] = None
    parent.write(parent.config, dump_yaml(resolved))
    parent.copy_from(RunFolder(done[0][0]), SUMMARY)
    meta = _aggregate(cfg, done, time.time() - began)
    parent.copy_from(RunFolder(parent.path / meta["folds"]["model_from"]), MODEL)
    parent.write_json(parent.metrics, meta)
    std = meta["folds"]
    for split in ("val", "test"):
        reporter.note(f"{split} over {std['k']} folds: " + ", ".join(
            f"{m} {v:.4f} ± {std[split + '_std'][m]:.4f}" for m, v in meta[split].items()))
    return parent.path, {"run_dir": str(parent.path), **{k: meta[k] for k in ("status", "test", "val", "folds",
                                                                              "duration_s")}}


def _aggregate(cfg: Config, done: list[tuple[Path, Any]], took: float) -> dict[str, Any]:
    """The folds' records as one: mean, std and per-fold values of every val and test metric."""
    records = [rec for _, rec in done]
    first = records[0].model_dump(mode="json")
    out: dict[str, Any] = {**first, "status": "completed" if all(r.status == "completed" for r in records)
                           else "failed", "duration_s": round(took, 3), "best_epoch": None,
                           "epochs": max(r.epochs for r in records)}
    folds: dict[str, Any] = {"k": len(records), "runs": [p.name for p, _ in done]}
    for split in ("val", "test"):
        names = [m for m in getattr(records[0], split) if all(m in getattr(r, split) for r in records)]
        values = {m: [float(getattr(r, split)[m]) for r in records] for m in names}
        out[split] = {m: statistics.fmean(v) for m, v in values.items()}
        folds[split] = values
        folds[f"{split}_std"] = {m: statistics.stdev(v) if len(v) > 1 else 0.0 for m, v in values.items()}
    name = default_objective(cfg.early_stopping.monitor if cfg.early_stopping else None)[4:]
    scores = folds["val"].get(name) or [0.0] * len(records)
    chosen = best(scores, name, records[0].directions)
    folds["model_from"] = done[chosen][0].name
    out["decision"] = records[chosen].decision  # its model.keras is that fold's: so is its threshold
    out["folds"] = folds
    return out
