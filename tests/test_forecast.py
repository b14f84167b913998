"""Multi-step forecasting: `data.output_steps` makes each window's target the next S values."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from conftest import write_config


def series(tmp_path: Path, rows: int = 120) -> Path:
    t = np.arange(rows)
    path = tmp_path / "s.csv"
    path.write_text("v,w\n" + "".join(f"{np.sin(i / 6):.4f},{i % 5}\n" for i in t))
    return path


CONFIG = """
data: {{source: s.csv, target: v, features: [v, w], sequence_length: 8, horizon: {horizon}, output_steps: 4,
        validation_split: 0.15, test_split: 0.15}}
layers: [Flatten, {{Dense: {{units: 16, activation: relu}}}}, {{Dense: {units}}}]
epochs: 3
"""


def test_targets_are_the_next_steps_and_predict_names_each(cli, tmp_path: Path) -> None:
    csv_path = series(tmp_path)
    cfg = write_config(tmp_path / "f.yaml", CONFIG.format(horizon=2, units=4))
    r = cli("train", cfg, "--json")
    assert r.exit_code == 0, r.stderr
    run = Path(json.loads(r.stdout.strip().splitlines()[-1])["run_dir"])
    meta = json.loads((run / "metrics.json").read_text())
    # 120 rows, windows of 8, targets 2..5 steps after each window: 120 - 8 - 2 - 4 + 2 = 108 windows
    assert sum(meta["dataset"]["sizes"].values()) == 108 and meta["task"] == "regression"
    assert (run / "plots" / "forecast.png").stat().st_size > 0

    from nnctl.config import load_config
    from nnctl.data import load_source

    loaded = load_source(load_config(cfg).data, tmp_path)
    v = np.sin(np.arange(120) / 6).round(4).astype("float32")
    assert loaded.y.shape == (108, 4)
    assert np.array_equal(loaded.y[0], v[8 + 1:8 + 1 + 4]) and np.array_equal(loaded.y[-1], v[-4:])

    out = cli("predict", run, csv_path)
    assert out.exit_code == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert list(rows[0]) == ["id", "v_1", "v_2", "v_3", "v_4"] and len(rows) == 120 - 8 + 1


def test_output_steps_errors_name_the_key(cli, tmp_path: Path) -> None:
    series(tmp_path)
    wrong_units = cli("train", write_config(tmp_path / "a.yaml", CONFIG.format(horizon=1, units=1)))
    assert wrong_units.exit_code == 2 and "4 column(s)" in wrong_units.stderr and "units: 4" in wrong_units.stderr
    no_windows = write_config(tmp_path / "b.yaml", "data: {source: s.csv, target: v, output_steps: 3}\n"
                                                   "layers: [{Dense: 3}]\n")
    r = cli("train", no_windows)
    assert r.exit_code == 2 and r.stderr.startswith("error: data.output_steps: ") and "sequence_length" in r.stderr
    assert not (tmp_path / "runs").exists()
