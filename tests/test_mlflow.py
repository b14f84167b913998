"""MLflow logging against a real local MLflow file store, read back through mlflow.search_runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import write_config

mlflow = pytest.importorskip("mlflow")  # the optional extra; the test extra installs it

IRIS = """
name: iris-mlflow
data: {source: iris}
layers: [{Dense: {units: 8, activation: relu}}, {Dense: {units: 3, activation: softmax}}]
optimizer: {name: adam, learning_rate: 0.05}
epochs: 3
"""


def test_train_logs_params_epoch_metrics_files_and_model(cli, tmp_path: Path, monkeypatch) -> None:
    store = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file://{store}")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store behind this switch
    run = Path(cli("train", write_config(tmp_path / "i.yaml", IRIS)).last_line)

    mlflow.set_tracking_uri(f"file://{store}")
    found = mlflow.search_runs(experiment_names=["iris-mlflow"])
    assert len(found) == 1
    row = found.iloc[0]
    assert row["status"] == "FINISHED" and row["tags.mlflow.runName"] == run.name
    assert row["params.optimizer.learning_rate"] == "0.05" and row["params.layers.0.Dense.units"] == "8"
    assert 0 <= row["metrics.test_accuracy"] <= 1 and "metrics.val_loss" in found.columns

    client = mlflow.tracking.MlflowClient()
    with open(run / "history.csv") as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f)]
    history = client.get_metric_history(row["run_id"], "loss")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == list(enumerate(losses, 1))
    files = {a.path for a in client.list_artifacts(row["run_id"])}
    assert {"config.yaml", "history.csv", "metrics.json", "plots", "model"} <= files
    assert [a.path for a in client.list_artifacts(row["run_id"], "model")] == ["model/model.keras"]


def test_mlflow_is_off_without_the_flag_or_the_variable(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    run = Path(cli("train", write_config(tmp_path / "i.yaml", IRIS)).last_line)
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "mlflow.db").exists()
    assert "mlflow" not in json.loads((run / "metrics.json").read_text())
