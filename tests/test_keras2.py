"""The course slides' Keras 2 spelling (lr, decay, SGD(...), 'acc', rmse) translated with a
warning, trained, saved and reloaded in new processes; messages in words, not Python reprs."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import CONFIGS, IRIS, last_json, nnctl, one_line_error, write_config


def test_the_slides_keras2_optimizer_and_loss_translate_with_warnings(tmp_path: Path) -> None:
    """`optimizer: {name: SGD, lr: 0.01, momentum: 0.0, decay: 0.0}` and `loss: rmse`, as the slides write them."""
    cfg = write_config(tmp_path / "c.yaml", "data: {source: diabetes, validation_split: 0.2}\n"
                       "layers: [{Dense: {units: 8, input_dim: 10}}, {Dense: 1}]\n"
                       "optimizer: {name: SGD, lr: 0.01, momentum: 0.0, decay: 0.0}\nloss: rmse\nmetrics: [acc]\n"
                       "nb_epoch: 3\n")
    shown = nnctl("config", "show", cfg)
    assert shown.returncode == 0, shown.stderr
    resolved = yaml.safe_load(shown.stdout)
    assert resolved["optimizer"] == {"name": "SGD", "momentum": 0.0, "learning_rate": 0.01}
    assert resolved["loss"] == "root_mean_squared_error" and resolved["epochs"] == 3
    assert resolved["input_shape"] == [10] and resolved["layers"][0] == {"Dense": {"units": 8}}
    for hint in ("Keras 3: learning_rate: 0.01", "optimizer.decay: 0.0 is Keras 2's default", "root_mean_squared_error",
                 "Keras 3: epochs: 3", "Keras 3: input_shape: [10]"):
        assert hint in shown.stderr, (hint, shown.stderr)
    assert "Traceback" not in shown.stderr


def test_keras2_decay_is_inverse_time_decay_per_step(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", IRIS + "optimizer: {name: sgd, lr: 0.2, decay: 0.05}\n"
                       "batch_size: 16\nepochs: 2\n")
    run = Path(cli("train", cfg).last_line)
    stored = yaml.safe_load((run / "config.yaml").read_text())["optimizer"]
    assert stored == {"name": "sgd", "learning_rate": {"name": "InverseTimeDecay", "initial_learning_rate": 0.2,
                                                        "decay_steps": 1, "decay_rate": 0.05}}
    import keras

    from nnctl import layers  # noqa: F401  (registers nnctl's classes, as every nnctl command does)

    model = keras.models.load_model(run / "model.keras")
    steps = int(model.optimizer.iterations.numpy())
    n_train = json.loads((run / "metrics.json").read_text())["dataset"]["sizes"]["train"]
    assert steps == 2 * -(-n_train // 16)
    schedule = model.optimizer._learning_rate
    for step in (0, 1, 7, steps):  # Keras 2: lr * 1 / (1 + decay * iterations)
        assert float(schedule(step)) == pytest.approx(0.2 / (1 + 0.05 * step), rel=1e-6)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.2 / (1 + 0.05 * steps), rel=1e-6)


def test_rmse_is_a_loss_that_trains_saves_and_reloads_in_a_new_process(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", "data: {source: diabetes}\nlayers: [Normalization, {Dense: 1}]\n"
                       "loss: rmse\nmetrics: [RootMeanSquaredError, mae]\nbatch_size: 512\nepochs: 2\n")
    run = Path(cli("train", cfg).last_line)
    evaluated = last_json(nnctl("evaluate", run, "--json"))["test"]
    # One test batch: the loss is the root of the mean squared error, not the mean absolute error,
    # of the target standardised by its training-split scale (the model's last layer, target_units).
    with zipfile.ZipFile(run / "model.keras") as z:
        layers = json.loads(z.read("config.json"))["config"]["layers"]
    scale = next(la["config"]["scale"] for la in layers if la["config"]["name"] == "target_units")
    assert evaluated["loss"] * scale == pytest.approx(evaluated["RootMeanSquaredError"], rel=1e-5)
    assert abs(evaluated["loss"] * scale - evaluated["mae"]) > 1.0
    with_lr = write_config(tmp_path / "d.yaml", IRIS + "optimizer: {name: adam, lr: 0.1, learning_rate: 0.1}\n")
    assert "give learning_rate only" in one_line_error(nnctl("validate", with_lr))


def test_other_keras2_spellings(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: data/reviews.csv, text: review, target: sentiment}
augmentation: {rescale: 0.00392156862745098}
layers:
  - TextVectorization: {max_tokens: 100, output_sequence_length: 8}
  - Embedding: {input_dim: 100, output_dim: 4, input_length: 8}
  - CuDNNLSTM: 4
  - Dense: {units: 2, activation: softmax}
optimizer: {name: adam, epsilon: null, decay: 0.001}
""")
    (tmp_path / "data").symlink_to(CONFIGS / "data")
    shown = nnctl("config", "show", cfg)
    resolved = yaml.safe_load(shown.stdout)
    assert resolved["layers"][1] == {"Embedding": {"input_dim": 100, "output_dim": 4}}  # its own input_dim stays
    assert resolved["layers"][2] == {"LSTM": 4} and resolved["augmentation"] is None  # rescale was all it held
    assert resolved["optimizer"]["learning_rate"]["initial_learning_rate"] == 0.001  # Keras 2's adam default
    for hint in ("input_length", "CuDNN", "epsilon", "rescale"):
        assert hint in shown.stderr
    odd = nnctl("validate", cfg, "--set", "augmentation.rescale=0.5")
    assert "Rescaling layer" in one_line_error(odd)


def test_messages_show_sizes_in_words_not_python_reprs(cli, tmp_path: Path) -> None:
    ok = nnctl("validate", CONFIGS / "slides_keras2.yaml")
    assert ok.returncode == 0, ok.stderr
    assert "1,222 train / 216 validation / 359 test examples" in ok.stdout and "{'" not in ok.stdout + ok.stderr
    cfg = write_config(tmp_path / "c.yaml", IRIS + "epochs: 1\n")
    r = cli("train", cfg)
    assert "training c: 108 train / 12 validation / 30 test examples, 1 epochs" in r.stderr, r.stderr
    assert "{'" not in r.stderr and "['" not in r.stderr
