"""Evaluate a finished run's saved model on its test split, or on another source."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from nnctl import data as data_mod
from nnctl.engine import targets
from nnctl.engine.evaluation import test_pass
from nnctl.model import keras_names
from nnctl.run import analysis
from nnctl.run.folder import RunFolder, read_json


def evaluate_run(run: Path, source: str | None = None) -> dict[str, Any]:
    overrides = [f"data.source={source}", "data.test=null", "data.validation=null"] if source else []
    folder = RunFolder(run)
    cfg = folder.read_config(overrides)
    model = folder.load_model()
    # The loss and metrics as training compiled them, from the run's config: a reloaded model's own
    # can differ (Keras 3.15 saves Huber without its delta, so it reloads as Huber(delta=1)).
    loss, metrics = keras_names.compile_args(cfg)
    model.compile(optimizer=model.optimizer, loss=targets.loss_for(model, loss), metrics=metrics,
                  loss_weights=cfg.loss_weights)
    data = data_mod.load(cfg)
    metrics, predicted = test_pass(model, data.test, cfg.batch_size)
    result = {
        "run": str(run),
        "data": {"source": data.source, "name": data.name, "fallback": data.fallback,
                 "test_size": len(data.test)},
        "test": metrics,
        "evaluated_at": time.time(),
        "warnings": data.warnings,
    }
    earlier = folder.read_metrics()
    threshold = (earlier.get("decision") or {}).get("threshold", 0.5)
    features = data.table.features if data.table is not None else None
    result.update(analysis.analyse(run, predicted, data.test, cfg, data.classes, threshold, features))
    kept = read_json(folder.evaluation) or {}
    if kept.get("importance"):  # measured on the run's own validation split: still the model's
        result["importance"] = kept["importance"]
    folder.write_json(folder.evaluation, result)
    return result
