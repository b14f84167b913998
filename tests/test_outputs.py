"""The run folder's extras: plots, per-class table, TensorBoard logs, `nnctl plot`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from PIL import Image

from conftest import write_config

DIGITS = """
name: digits
data: {source: digits}
input_shape: [8, 8, 1]
layers: [{Conv2D: {filters: 4, kernel_size: 3, activation: relu}}, Flatten, {Dense: {units: 10, activation: softmax}}]
epochs: 3
"""


def png(path: Path, min_kb: int = 10) -> tuple[int, int]:
    assert path.is_file() and path.stat().st_size > min_kb * 1024, path
    with Image.open(path) as im:
        im.verify()
        assert im.format == "PNG"
        return im.size


def test_classification_run_has_plots_per_class_table_and_tensorboard(cli, tmp_path: Path) -> None:
    run = Path(cli("train", write_config(tmp_path / "d.yaml", DIGITS)).last_line)
    plots = run / "plots"
    assert png(plots / "learning_curves.png")[0] > 600
    assert png(plots / "confusion_matrix.png")[0] > 400
    png(plots / "misclassified.png", 5)
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert {str(d) for d in range(10)} <= set(evaluation["per_class"])
    assert set(evaluation["per_class"]["7"]) == {"precision", "recall", "f1-score", "support"}
    matrix = evaluation["confusion_matrix"]
    assert len(matrix) == 10 and sum(map(sum, matrix)) == json.loads((run / "metrics.json").read_text())[
        "dataset"]["sizes"]["test"]

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorflow import make_ndarray

    with open(run / "history.csv") as f:
        history = list(csv.DictReader(f))
    for sub, prefix in (("train", ""), ("validation", "val_")):
        events = EventAccumulator(str(run / "tensorboard" / sub), size_guidance={"tensors": 0})
        events.Reload()
        logged = [(e.step, float(make_ndarray(e.tensor_proto))) for e in events.Tensors("epoch_loss")]
        assert logged == [(int(h["epoch"]), float(h[f"{prefix}loss"])) for h in history]
    root = EventAccumulator(str(run / "tensorboard"), size_guidance={"tensors": 0})
    root.Reload()
    assert {"config", "_hparams_/session_start_info"} <= set(root.Tags()["tensors"])

    for p in plots.iterdir():
        p.unlink()
    r = cli("evaluate", run)  # refreshes the figures
    assert r.exit_code == 0 and (plots / "confusion_matrix.png").is_file() and (plots / "learning_curves.png").is_file()


def test_regression_run_plots_predictions_and_runs_overlay(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "r.yaml", "data: {source: diabetes}\nlayers: [Normalization, {Dense: 1}]\n"
                                            "epochs: 3\n")
    a = Path(cli("train", cfg).last_line)
    b = Path(cli("train", cfg, "--set", "optimizer.learning_rate=0.1").last_line)
    png(a / "plots" / "predictions.png")
    assert not (a / "plots" / "confusion_matrix.png").exists()
    r = cli("plot", a, b, "--output", tmp_path / "cmp.png")
    assert r.exit_code == 0 and r.last_line == str(tmp_path / "cmp.png")
    png(tmp_path / "cmp.png")
    r = cli("plot", tmp_path / "nope")
    assert r.exit_code == 2 and "run folder not found" in r.stderr
