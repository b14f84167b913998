"""The course slides' vocabulary: task checks with their fixes, every task type, losses,
optimizers, schedules, Maxout, augmentation, wrappers and Keras Applications."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_dirs, write_config


def _multilabel_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 3))
    lines = ["a,b,c,t1,t2"] + [f"{r[0]:.3f},{r[1]:.3f},{r[2]:.3f},{int(r[0] > 0)},{int(r[1] > 0)}" for r in x]
    path = tmp_path / "ml.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


MISMATCHES = [
    ("10 classes but Dense(5)", "digits", "[{Dense: {units: 5, activation: softmax}}]", "",
     ["layers.0.Dense", "10 classes", "5 output units", "units: 10, activation: softmax"]),
    ("softmax with binary_crossentropy on a multi-class task", "iris",
     "[{Dense: {units: 3, activation: softmax}}]", "loss: binary_crossentropy",
     ["loss", "binary_crossentropy on a 3-class task", "use sparse_categorical_crossentropy"]),
    ("categorical_crossentropy with integer labels", "iris", "[{Dense: {units: 3, activation: softmax}}]",
     "loss: categorical_crossentropy", ["loss", "use loss: sparse_categorical_crossentropy"]),
    ("sigmoid output on regression targets outside [0, 1]", "diabetes",
     "[{Dense: {units: 1, activation: sigmoid}}]", "", ["sigmoid output can only reach 0..1", "..346",
                                                         "remove the activation"]),
    ("softmax on a multi-label task", "ML", "[{Dense: {units: 2, activation: softmax}}]", "task: multilabel",
     ["layers.0.Dense", "softmax on a multilabel output", "use activation: sigmoid"]),
    ("sparse_categorical_crossentropy on one-hot labels", "ONEHOT", "[{Dense: {units: 3, activation: softmax}}]",
     "loss: sparse_categorical_crossentropy", ["use loss: categorical_crossentropy"]),
    ("classification on continuous targets", "diabetes", "[{Dense: {units: 3, activation: softmax}}]",
     "task: classification", ["task", "use task: regression"]),
]


@pytest.mark.parametrize(("what", "source", "layers", "extra", "expected"), MISMATCHES,
                         ids=[m[0] for m in MISMATCHES])
def test_mismatch_is_caught_with_its_fix(cli, tmp_path: Path, what, source, layers, extra, expected) -> None:
    data = f"{{source: {source}}}"
    if source == "ML":
        data = f"{{source: {_multilabel_csv(tmp_path)}, target: [t1, t2]}}"
    if source == "ONEHOT":
        y = np.eye(3)[np.arange(90) % 3]
        np.savez(tmp_path / "oh.npz", x=np.random.default_rng(0).normal(size=(90, 4)), y=y)
        data = "{source: oh.npz}"
    cfg = write_config(tmp_path / "c.yaml", f"data: {data}\nlayers: {layers}\n{extra}\n")
    r = cli("train", cfg)
    assert r.exit_code == 2, r.stderr
    assert "Traceback" not in r.stderr
    for fragment in expected:
        assert fragment in r.stderr, (fragment, r.stderr)
    assert run_dirs(tmp_path) == []


def test_unusual_but_legal_choice_is_a_warning(cli, tmp_path: Path) -> None:
    layers = "[{Dense: {units: 3, activation: sigmoid}}]"
    cfg = write_config(tmp_path / "c.yaml", f"data: {{source: iris}}\nlayers: {layers}\n")
    r = cli("validate", cfg)
    assert r.exit_code == 0
    assert "warning: layers.0.Dense: sigmoid output on a 3-class task" in r.stderr


TASKS = [
    ("classification", "data: {source: iris}", "[{Dense: {units: 3, activation: softmax}}]", {"loss", "accuracy"}),
    ("binary", "data: {source: breast_cancer}", "[Normalization, {Dense: {units: 1, activation: sigmoid}}]",
     {"loss", "accuracy", "auc", "precision", "recall"}),
    ("multilabel", "ML", "[{Dense: {units: 2, activation: sigmoid}}]",
     {"loss", "binary_accuracy", "auc", "precision", "recall"}),
    ("regression", "data: {source: diabetes}", "[Normalization, {Dense: 1}]", {"loss", "mae", "RootMeanSquaredError"}),
]


@pytest.mark.parametrize(("task", "data", "layers", "metrics"), TASKS, ids=[t[0] for t in TASKS])
def test_each_task_trains_with_its_default_loss_and_metrics(cli, tmp_path: Path, task, data, layers, metrics) -> None:
    if data == "ML":
        data = f"data: {{source: {_multilabel_csv(tmp_path)}, target: [t1, t2]}}"
    cfg = write_config(tmp_path / "c.yaml", f"{data}\nlayers: {layers}\nepochs: 2\n")
    r = cli("train", cfg)
    assert r.exit_code == 0, r.stderr
    meta = json.loads((Path(r.last_line) / "metrics.json").read_text())
    assert meta["task"] == task  # inferred from the labels and the output layer
    assert set(meta["test"]) == metrics


@pytest.mark.parametrize(("optimizer", "expected"), [
    ("{name: sgd, learning_rate: 0.05, momentum: 0.9, nesterov: true}",
     {"class": "SGD", "learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("{name: sgd, momentum: 0.9, learning_rate: {name: ExponentialDecay, initial_learning_rate: 0.1, "
     "decay_steps: 100, decay_rate: 0.9}}",
     {"class": "SGD", "momentum": 0.9, "schedule": ("ExponentialDecay", 0.1, 100, 0.9)}),
    ("{name: adagrad, learning_rate: 0.05}", {"class": "Adagrad", "learning_rate": 0.05}),
    ("{name: adadelta, learning_rate: 1.0}", {"class": "Adadelta", "learning_rate": 1.0}),
    ("{name: rmsprop, rho: 0.8}", {"class": "RMSprop", "rho": 0.8}),
    ("{name: adam, learning_rate: 0.001, beta_1: 0.85}", {"class": "Adam", "learning_rate": 0.001, "beta_1": 0.85}),
])
def test_optimizers_of_the_slides_with_their_arguments(cli, tmp_path: Path, optimizer: str, expected: dict) -> None:
    """The saved model's optimizer is the one the config names, with its arguments."""
    import keras

    cfg = write_config(tmp_path / "c.yaml", f"""
data: {{source: iris}}
layers: [{{Dense: {{units: 8, activation: tanh}}}}, {{Dense: {{units: 3, activation: softmax}}}}]
optimizer: {optimizer}
epochs: 1
""")
    r = cli("train", cfg)
    assert r.exit_code == 0, r.stderr
    opt = keras.models.load_model(Path(r.last_line) / "model.keras").optimizer
    config = opt.get_config()
    assert type(opt).__name__ == expected.pop("class")
    assert int(opt.iterations.numpy()) > 0  # it trained
    schedule = expected.pop("schedule", None)
    if schedule is not None:
        lr = config["learning_rate"]
        assert lr["class_name"] == schedule[0]
        assert [lr["config"][k] for k in ("initial_learning_rate", "decay_steps", "decay_rate")] == list(schedule[1:])
    for key, value in expected.items():
        assert config[key] == pytest.approx(value), key


def test_bad_optimizer_argument_is_named(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: iris}
layers: [{Dense: {units: 3, activation: softmax}}]
optimizer: {name: sgd, momentun: 0.9}
""")
    r = cli("validate", cfg)
    assert r.exit_code == 2 and "optimizer: unknown argument 'momentun'" in r.stderr and "'momentum'" in r.stderr


@pytest.mark.parametrize(("loss", "expected"), [
    ("mse", "mse"), ("mae", "mae"), ("mape", "mape"), ("msle", "msle"), ("mean_squared_error", "mean_squared_error"),
    ("{name: Huber, delta: 2.0}", ("Huber", {"delta": 2.0})),
])
def test_regression_losses(cli, tmp_path: Path, loss: str, expected: object) -> None:
    """The model trains with the loss the config names, arguments included, and evaluate uses it too."""
    from nnctl.config import load_config
    from nnctl.engine import prepare as core

    cfg = write_config(tmp_path / "c.yaml", f"data: {{source: diabetes}}\nlayers: [{{Dense: 1}}]\nloss: {loss}\n"
                                            "epochs: 1\n")
    used = core.prepare(load_config(cfg)).model.loss
    # diabetes' target (25-346) learns standardised: the config's loss, wrapped where a scale divides
    # out of it (engine/targets.py); mape and msle are not
    assert (type(used).__name__ == "ScaledLoss") == (loss not in ("mape", "msle"))
    used = getattr(used, "inner", used)
    if isinstance(expected, str):
        import keras

        assert used == expected or used is keras.losses.get(expected)
    else:
        assert type(used).__name__ == expected[0] and used._fn_kwargs == expected[1]
    r = cli("train", cfg)
    assert r.exit_code == 0, r.stderr
    run = Path(r.last_line)
    trained = json.loads((run / "metrics.json").read_text())["test"]
    assert cli("evaluate", run).exit_code == 0  # the saved model, with the run's loss (Huber's delta included)
    assert json.loads((run / "evaluation.json").read_text())["test"] == pytest.approx(trained, rel=1e-6)


def test_activations_wrappers_regularizers_and_maxout_reload(cli, tmp_path: Path) -> None:
    t = np.arange(200)
    lines = ["v"] + [f"{np.sin(i / 8):.4f}" for i in t]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: s.csv, target: v, sequence_length: 10}
layers:
  - Bidirectional: {layer: {LSTM: {units: 4, return_sequences: true}}}
  - Bidirectional: {layer: {GRU: 4}}
  - Dense: {units: 8, kernel_regularizer: {name: L2, l2: 0.01}, kernel_initializer: he_normal}
  - LeakyReLU: {negative_slope: 0.1}
  - Maxout: {units: 4, pieces: 3}
  - ELU
  - Activation: tanh
  - Dense: 1
epochs: 1
""")
    r = cli("train", cfg)
    assert r.exit_code == 0, r.stderr
    run = Path(r.last_line)
    summary = (run / "summary.txt").read_text()
    assert "bidirectional" in summary and "Maxout" in summary
    import keras

    import nnctl.layers  # noqa: F401  (registers Maxout with Keras' serialization)

    model = keras.models.load_model(run / "model.keras", safe_mode=True)
    maxout = next(layer for layer in model.layers if type(layer).__name__ == "Maxout")
    assert (maxout.units, maxout.pieces) == (4, 3)
    x = np.random.default_rng(0).normal(size=(2, 10, 1)).astype("float32")
    assert model.predict(x, verbose=0).shape == (2, 1)


def test_augmentation_reloads_and_acts_in_training_only(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: digits}
input_shape: [8, 8, 1]
augmentation: {rotation_range: 15, width_shift_range: 0.1, height_shift_range: 0.1, zoom_range: 0.1,
               horizontal_flip: true, brightness_range: [0.9, 1.1], featurewise_center: true,
               featurewise_std_normalization: true}
layers: [Flatten, {Dense: {units: 10, activation: softmax}}]
epochs: 1
""")
    r = cli("train", cfg)
    assert r.exit_code == 0, r.stderr
    run = Path(r.last_line)
    import keras

    model = keras.models.load_model(run / "model.keras", safe_mode=True)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[:6] == ["Normalization", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomFlip",
                         "RandomBrightness"]
    norm = model.layers[0]
    assert float(np.asarray(norm.variance).ravel()[0]) != 1.0  # adapted on the training split
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    a, b = model.predict(x, verbose=0), model.predict(x, verbose=0)
    np.testing.assert_array_equal(a, b)  # inference: no random transform
    aug = keras.Sequential(model.layers[1:6])
    assert not np.allclose(aug(x, training=True), x)  # training: transformed


def test_application_as_a_layer_entry(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: digits}
input_shape: [8, 8, 1]
layers:
  - MobileNetV2: {weights: null, include_top: false, pooling: avg, alpha: 0.35, input_size: [32, 32],
                  fine_tune_from: 100}
  - Dense: {units: 10, activation: softmax}
""")
    r = cli("summary", cfg)
    assert r.exit_code == 0, r.stderr
    assert "mobilenetv2_resize" in r.stdout and "mobilenetv2_preprocess" in r.stdout
    r = cli("validate", cfg, "--set", "layers.0.MobileNetV2.weights=imagenet")
    assert r.exit_code == 2
    assert "layers.0.MobileNetV2.weights" in r.stderr and "weights: null" in r.stderr
    r = cli("validate", cfg, "--set", "layers.0.MobileNetV2.fine_tune_from=no_such_layer")
    assert r.exit_code == 2 and "no layer 'no_such_layer'" in r.stderr


def test_class_weight_balanced_and_its_misuse(cli, tmp_path: Path) -> None:
    """balanced weights are scikit-learn's, and they change the training loss; misuse is refused."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.utils.class_weight import compute_class_weight

    from nnctl.config import load_config
    from nnctl.engine.prepare import class_weights

    text = ("data: {source: breast_cancer}\nlayers: [Normalization, {Dense: {units: 1, activation: sigmoid}}]\n"
            "epochs: 1\n")
    plain = write_config(tmp_path / "plain.yaml", text)
    weighted = write_config(tmp_path / "weighted.yaml", text + "class_weight: balanced\n")
    y = load_breast_cancer().target
    got = class_weights(load_config(weighted), y)
    assert list(got.values()) == pytest.approx(list(compute_class_weight("balanced", classes=np.unique(y), y=y)))
    assert got[0] > 1 > got[1]  # the rarer class (malignant) weighs more
    losses = []
    for cfg in (plain, weighted):
        r = cli("train", cfg)
        assert r.exit_code == 0, r.stderr
        header, first = (Path(r.last_line) / "history.csv").read_text().splitlines()[:2]
        losses.append(float(first.split(",")[header.split(",").index("loss")]))
    assert losses[0] != losses[1]  # same seed and data train to the same digits (test_train): the weights differ
    r = cli("validate", weighted, "--set", "data.source=diabetes", "--set", "layers.1.Dense.activation=null")
    assert r.exit_code == 2 and "class_weight" in r.stderr
