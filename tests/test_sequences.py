"""Per-position targets: integer labels at every step, as an .npz `y` of shape (N, T)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import write_config


def steps_npz(tmp_path: Path, n: int = 400, steps: int = 6) -> Path:
    """Each step's class is which third of [-1.5, 1.5] its first feature falls in."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=(n, steps, 2)).astype("float32")
    y = np.digitize(x[..., 0], [-0.43, 0.43]).astype("int64")  # classes 0, 1, 2 about equally often
    path = tmp_path / "steps.npz"
    np.savez(path, x=x, y=y)
    return path


CONFIG = """
data: {{source: steps.npz}}
layers: [{{Dense: {{units: 16, activation: relu}}}}, {{Dense: {{units: {units}, activation: softmax}}}}]
optimizer: {{name: adam, learning_rate: 0.02}}
epochs: 15
{extra}
"""


def test_per_step_classification_trains_evaluates_and_predicts(cli, tmp_path: Path) -> None:
    steps_npz(tmp_path)
    r = cli("train", write_config(tmp_path / "s.yaml", CONFIG.format(units=3, extra="")), "--json")
    assert r.exit_code == 0, r.stderr
    run = Path(json.loads(r.stdout.strip().splitlines()[-1])["run_dir"])
    config = (run / "config.yaml").read_text()
    assert "task: classification" in config and "loss: sparse_categorical_crossentropy" in config
    meta = json.loads((run / "metrics.json").read_text())
    assert meta["test"]["accuracy"] > 0.85  # a third of the steps would be chance
    evaluation = json.loads((run / "evaluation.json").read_text())
    matrix = np.asarray(evaluation["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == meta["dataset"]["sizes"]["test"] * 6  # every step counted

    np.save(tmp_path / "new.npy", np.load(tmp_path / "steps.npz")["x"][:5])
    out = cli("predict", run, tmp_path / "new.npy")
    assert out.exit_code == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert list(rows[0]) == ["id", *(f"step_{i}" for i in range(1, 7))] and len(rows) == 5
    assert {v for row in rows for k, v in row.items() if k != "id"} <= {"0", "1", "2"}


@pytest.mark.parametrize(("units", "extra", "key", "words"), [
    (2, "", "layers.1.Dense", "need an output of shape [6, 3]"),
    (3, "loss: categorical_crossentropy", "loss", "use loss: sparse_categorical_crossentropy"),
    (3, "task: regression", "task", "per-position classification"),
    (3, "class_weight: balanced", "class_weight", "per-position classification task"),
])
def test_per_step_mistakes_are_one_line(cli, tmp_path: Path, units: int, extra: str, key: str, words: str) -> None:
    steps_npz(tmp_path, n=60)
    r = cli("validate", write_config(tmp_path / "s.yaml", CONFIG.format(units=units, extra=extra)))
    assert r.exit_code == 2 and r.stderr.startswith(f"error: {key}: ") and words in r.stderr, r.stderr
    assert not (tmp_path / "runs").exists()
