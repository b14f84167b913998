"""Cross-validation: `data.folds: K` trains K fold runs inside one run folder, the test split
out of every fold; metrics.json holds mean, std and per-fold values; `nnctl runs` shows mean ± std."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from conftest import write_config

IRIS = """
data: {source: iris, folds: 3, test_split: 0.2}
layers: [{Dense: {units: 8, activation: relu}}, {Dense: {units: 3, activation: softmax}}]
optimizer: {name: adam, learning_rate: 0.05}
epochs: 5
"""


def test_k_folds_in_one_run_folder_with_mean_std_and_per_fold_values(cli, tmp_path: Path) -> None:
    r = cli("train", write_config(tmp_path / "iris.yaml", IRIS), "--json")
    assert r.exit_code == 0, r.stderr
    result = json.loads(r.last_line)
    run = Path(result["run_dir"])
    meta = json.loads((run / "metrics.json").read_text())
    folds = meta["folds"]
    assert folds["k"] == 3 and folds["runs"] == ["fold-1", "fold-2", "fold-3"]
    fold_metas = [json.loads((run / f / "metrics.json").read_text()) for f in folds["runs"]]
    for name, values in folds["val"].items():
        assert values == [m["val"][name] for m in fold_metas]
        assert meta["val"][name] == statistics.fmean(values)
        assert folds["val_std"][name] == statistics.stdev(values)
    # The test split is the same for every fold, and never part of one; the folds' validation
    # parts are disjoint and together are the training data.
    data = [m["dataset"] for m in fold_metas]
    assert len({d["fingerprints"]["test"] for d in data}) == 1 and all(d["sizes"]["test"] == 30 for d in data)
    assert sum(d["sizes"]["val"] for d in data) == 120 and len({d["fingerprints"]["val"] for d in data}) == 3
    assert all(d["sizes"]["train"] + d["sizes"]["val"] == 120 for d in data)
    # The folder's model is a fold's, picked on validation; commands work on the folder.
    assert folds["model_from"] in folds["runs"] and (run / "model.keras").is_file()
    assert cli("evaluate", run).exit_code == 0
    listed = cli("runs")
    assert listed.exit_code == 0 and "±" in listed.stdout and run.name in listed.stdout


@pytest.mark.slow  # a sweep of four trainings: the slow tier (.ci/run); k folds in one run are in the default tier
def test_repeated_points_are_one_leaderboard_row_each_with_mean_and_std(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS.replace("folds: 3, ", "").replace("epochs: 5", "epochs: 2"))
    r = cli("sweep", cfg, "--grid", "optimizer.learning_rate=0.01,0.05", "--repeat", "2", "--json")
    assert r.exit_code == 0, r.stderr
    board = json.loads(r.stdout)
    assert len(board) == 2 and all("(+1 seeds)" in row["run"] for row in board)
    assert all("±" in str(row["val.loss"]) for row in board)
    means = [float(str(row["val.loss"]).split(" ± ")[0]) for row in board]
    assert means == sorted(means)  # ranked by the mean over the seeds
    runs = [json.loads((Path(p) / "metrics.json").read_text())["val"]["loss"]
            for p in sorted(Path(board[0]["path"]).parent.glob("iris-p00*"))]
    assert len(runs) == 4
