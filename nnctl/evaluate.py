"""Evaluate a finished run's saved model on its test split, or on another source."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from . import analysis, runs
from . import data as data_mod
from .config import load_config
from .errors import UserError
from .tf import keras
from .train import fit_input_shape, test_pass


def evaluate_run(run: Path, source: str | None = None) -> dict[str, Any]:
    overrides = [f"data.source={source}", "data.test=null", "data.validation=null"] if source else []
    cfg = load_config(run / "config.yaml", overrides)
    model_path = run / "model.keras"
    if not model_path.is_file():
        status = (runs.read_json(run / "metrics.json") or {}).get("status", "unknown")
        raise UserError(f"{run} has no model.keras (run status: {status}); nothing to evaluate")
    data = data_mod.load(cfg)
    fit_input_shape(cfg, data)
    # safe_mode: a model file never runs code on load, whoever sent it.
    model = keras().models.load_model(model_path, safe_mode=True)
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
    runs.write_json(run / "evaluation.json", result)
    return result
