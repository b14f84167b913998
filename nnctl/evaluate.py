"""Evaluate a finished run's saved model on its test split, or on another source."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from . import analysis, keras_names, runs, saved
from . import data as data_mod
from .train import fit_input_shape, test_pass


def evaluate_run(run: Path, source: str | None = None) -> dict[str, Any]:
    overrides = [f"data.source={source}", "data.test=null", "data.validation=null"] if source else []
    cfg = runs.read_config(run, overrides)
    model = saved.run_model(run)
    # The loss and metrics as training compiled them, from the run's config: a reloaded model's own
    # can differ (Keras 3.15 saves Huber without its delta, so it reloads as Huber(delta=1)).
    loss, metrics = keras_names.loss_and_metrics(cfg.loss, cfg.metrics or [])
    model.compile(optimizer=model.optimizer, loss=loss, metrics=metrics)
    data = data_mod.load(cfg)
    fit_input_shape(cfg, data)
    metrics, predicted = test_pass(model, data.test, cfg.batch_size)
    result = {
        "run": str(run),
        "data": {"source": data.source, "name": data.name, "fallback": data.fallback,
                 "test_size": len(data.test)},
        "test": metrics,
        "evaluated_at": time.time(),
        "warnings": data.warnings,
    }
    result.update(analysis.analyse(run, predicted, data.test, cfg, data.class_names))
    runs.write_json(run / runs.EVALUATION, result)
    return result
