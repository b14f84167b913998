"""Each output's naive baseline on a graph-form config's test split: the majority class of the
training split for classifiers (accuracy), the training mean for regression (MAE).

Run: python benchmarks/output_baselines.py configs/digits_sums.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from nnctl.config import load_config
from nnctl.data import load
from nnctl.model.tasks import Labels, infer_task

config = Path(sys.argv[1])
cfg = load_config(config)
data = load(cfg, config.parent)
for name, target in cfg.data.targets.items():
    train, test = np.asarray(data.train.y[name]), np.asarray(data.test.y[name])
    task = target.task or infer_task(Labels.of(train), data.outputs[name]["regression"], 1)
    if task == "regression":
        print(f"{name}: mean baseline test mae {np.mean(np.abs(test - train.mean(axis=0))):.4f}")
    else:
        majority = np.bincount(train.astype(int).ravel()).argmax()
        print(f"{name}: majority baseline test accuracy {np.mean(test == majority):.4f}")
