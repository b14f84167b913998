"""Naive baselines for configs/temperature_forecast.yaml's test split, to set its figures against.

persistence: every one of the next 7 days is the window's last temperature; mean: the training
targets' mean, per step. Run: python benchmarks/forecast_baselines.py [CONFIG]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from nnctl.config import load_config
from nnctl.data import load

config = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent / "configs/temperature_forecast.yaml")
cfg = load_config(config)
data = load(cfg, config.parent)
column = cfg.data.features.index(cfg.data.target)
y, last = data.test.y, data.test.x[:, -1, column]
for name, guess in (("persistence", np.repeat(last[:, None], y.shape[1], axis=1)),
                    ("mean", np.broadcast_to(data.train.y.mean(axis=0), y.shape))):
    err = guess - y
    print(f"{name:12s} test mse {np.mean(err ** 2):.4f}  mae {np.mean(np.abs(err)):.4f}  "
          f"rmse {np.sqrt(np.mean(err ** 2)):.4f}")
