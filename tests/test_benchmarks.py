"""The benchmark runner's smoke pass, and the throughput and FLOP counts every run records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, nnctl, write_config


@pytest.mark.slow  # the benchmark script itself, run on demand like the benchmarks
def test_vs_keras_smoke_pass_runs_both_sides(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, REPO / "benchmarks" / "vs_keras.py", "--smoke", "--workdir", tmp_path],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    report = json.loads(p.stdout.strip().splitlines()[-1])["csv_mlp"]
    assert report["median_ratio"] > 0 and report["nnctl_rss_mb"] > 100 and report["plain_rss_mb"] > 100
    assert abs(report["nnctl_test"]["mae"] - report["plain_test"]["mae"]) < 0.5  # same model, same data


def test_runs_record_throughput_and_training_flops(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", "data: {source: iris}\n"
                       "layers: [{Dense: {units: 8, activation: relu}}, {Dense: {units: 3, activation: softmax}}]\n"
                       "epochs: 2\n")
    run = Path(cli("train", cfg).last_line)
    meta = json.loads((run / "metrics.json").read_text())
    t, n_train = meta["throughput"], meta["dataset"]["sizes"]["train"]
    assert t["train_flops_per_example"] == 3 * 2 * (4 * 8 + 8 * 3)  # forward multiply-adds x2, training x3
    assert t["train_examples_per_s"] > 0 and abs(t["train_flop_per_s"] / t["train_examples_per_s"] - 336) < 1
    # The first call traces the training function and is reported apart: counted in, both epochs
    # together could not beat 2 * n_train / first_call_s.
    assert meta["steps_per_execution"] >= n_train / 32  # one call per epoch: the first call is epoch 1
    assert t["first_call_s"] > 0 and t["train_examples_per_s"] > 2 * n_train / t["first_call_s"]


def test_jit_compile_is_a_config_key_off_by_default(tmp_path: Path) -> None:
    """What Keras compiles the model with (its train and test functions take jit_compile from it)."""
    from nnctl.config import load_config
    from nnctl.engine import prepare as core

    cfg = write_config(tmp_path / "c.yaml", "data: {source: iris}\nlayers: [{Dense: {units: 3, activation: softmax}}]\n"
                                            "epochs: 1\n")
    assert core.prepare(load_config(cfg)).model.jit_compile is False
    assert core.prepare(load_config(cfg, ["jit_compile=true"])).model.jit_compile is True


def test_epochs_keep_the_compiled_functions(cli, tmp_path: Path, monkeypatch) -> None:
    """tf.random.set_seed clears TensorFlow's kernel cache: called per epoch, it made every epoch
    re-instantiate the compiled train and test functions (0.3 s each for a small LSTM)."""
    import tensorflow as tf

    calls = []
    real = tf.random.set_seed
    monkeypatch.setattr(tf.random, "set_seed", lambda seed: (calls.append(seed), real(seed)))
    cfg = write_config(tmp_path / "c.yaml", "data: {source: iris}\nseed: 3\n"
                       "layers: [{Dropout: 0.2}, {Dense: {units: 3, activation: softmax}}]\nepochs: 3\n")
    assert cli("train", cfg).exit_code == 0
    assert calls == [3]  # once, before the weights are made; not once per epoch


def test_test_metrics_equal_keras_evaluate_of_the_saved_model(cli, tmp_path: Path) -> None:
    import keras

    from nnctl import data
    from nnctl.config import load_config

    cfg_path = write_config(tmp_path / "c.yaml", """
data: {source: digits, validation_split: 0.1, test_split: 0.2}
input_shape: [8, 8, 1]
layers: [{Conv2D: {filters: 4, kernel_size: 3, activation: relu}}, Flatten, {Dense: {units: 10, activation: softmax}}]
batch_size: 50
epochs: 2
""")
    run = Path(cli("train", cfg_path).last_line)
    test = data.load(load_config(run / "config.yaml")).test
    model = keras.models.load_model(run / "model.keras")
    want = model.evaluate(test.x.reshape(-1, 8, 8, 1), test.y, batch_size=50, verbose=0, return_dict=True)
    got = json.loads((run / "metrics.json").read_text())["test"]
    assert got == {k: float(v) for k, v in want.items()}  # the last batch is smaller: weighted as evaluate does
    predicted = json.loads((run / "evaluation.json").read_text())["confusion_matrix"]
    assert sum(map(sum, predicted)) == len(test.y) == 359


def test_a_failed_training_exits_1_from_a_real_process(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "d.yaml", "data: {source: diabetes}\nlayers: [{Dense: 1}]\n"
                                            "optimizer: {name: sgd, learning_rate: 1.0e+6}\nepochs: 2\n")
    p = nnctl("train", cfg, "--runs-dir", tmp_path / "runs")
    assert p.returncode == 1 and "non-finite loss in epoch 1" in p.stderr.splitlines()[-1], p.stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "metrics.json").read_text())["status"] == "failed"


def test_keras_is_imported_without_scikit_learn_pandas_matplotlib_which_still_import_after() -> None:
    code = ("import sys; from nnctl.backend import keras; k = keras(start=False); "
            "assert not {'sklearn', 'pandas', 'matplotlib'} & set(sys.modules), sorted(sys.modules); "
            "import sklearn.metrics, pandas, matplotlib.pyplot; print(k.layers.Dense(2).units, pandas.__name__)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.strip() == "2 pandas", p.stderr[-2000:]
