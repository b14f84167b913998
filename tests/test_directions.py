"""Which way a metric improves: nnctl's one rule (nnctl/directions.py) agrees with every metric
class Keras registers, and the rule serves early stopping, folds, rankings and searches alike."""

from __future__ import annotations

import json
import subprocess
import sys

from nnctl.directions import best, direction

# Each Keras metric class with a direction, built with defaults, as (logged name, "up"/"down"):
# in a new process, so that this test process never imports TensorFlow.
KERAS = """
import inspect, json, keras
out = {}
for name, cls in vars(keras.metrics).items():
    if not (inspect.isclass(cls) and issubclass(cls, keras.metrics.Metric)) or cls is keras.metrics.Metric:
        continue
    params = inspect.signature(cls).parameters
    if "fn" in params:
        continue
    kwargs = {"num_classes": 2, "target_class_ids": [0]}
    kwargs.update({p: 0.5 for p in ("recall", "precision", "sensitivity", "specificity")})
    metric = cls(**{k: v for k, v in kwargs.items() if k in params})
    if getattr(metric, "_direction", None) in ("up", "down"):
        out[metric.name] = metric._direction
print(json.dumps(out))
"""


def test_the_rule_agrees_with_every_keras_metric() -> None:
    p = subprocess.run([sys.executable, "-c", KERAS], capture_output=True, text=True, timeout=120)
    keras_directions = json.loads(p.stdout.strip().splitlines()[-1])
    assert len(keras_directions) > 35 and keras_directions["r2_score"] == "up"
    wrong = {name: d for name, d in keras_directions.items()
             if direction(f"val_{name}") != ("max" if d == "up" else "min")}
    assert not wrong, wrong


def test_a_recorded_direction_wins_and_prefixes_do_not_matter() -> None:
    assert direction("val.r2_score") == direction("test_r2_score") == "max"
    assert direction("val_loss") == "min" and direction("mae") == "min"
    assert direction("custom", {"custom": "max"}) == "max"
    assert best([0.3, 0.9, 0.5], "r2_score") == 1 and best([0.3, 0.9, 0.1], "loss") == 2
