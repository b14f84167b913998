"""`nnctl convert` on the course's slides and public Keras example scripts (tests/scripts, copies
of what the examples show, Keras 2 and 3 spellings), each converted, validated and trained for one
epoch in new processes (convert in its own, validate then train in one more). The converted
model's parameter count is compared with the script's own model, built for real here in a
subprocess (the product never runs a script)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import cli_process, last_json, nnctl, one_line_error

SCRIPTS = Path(__file__).resolve().parent / "scripts"
FASHION = Path("/usr/share/datasets/fashion-mnist")

# Builds a script's model as the script does, up to its fit(): keras.datasets answer with zeros of
# the real shapes (no network), and the model's count_params() is printed.
BUILD = r"""
import sys, numpy as np, keras
shapes = {"mnist": (28, 28), "fashion_mnist": (28, 28)}
for name, shape in shapes.items():
    module = getattr(keras.datasets, name)
    module.load_data = lambda s=shape: ((np.zeros((60000, *s), "uint8"), np.zeros(60000, "int64")),
                                        (np.zeros((10000, *s), "uint8"), np.zeros(10000, "int64")))
counts = {}
for path in sys.argv[1:]:
    source = open(path).read().replace("weights='imagenet'", "weights=None")  # no download in a test
    source = source[: source.index("model.fit(")] if "model.fit(" in source else source
    source = source[: source.rindex("\n", 0, source.index("model.compile"))] if "model.compile" in source else source
    scope = {"__name__": "__main__"}
    exec(compile(source, path, "exec"), scope)
    counts[path.rsplit("/", 1)[-1]] = scope["model"].count_params()
print(json.dumps(counts))
"""
BUILT = ["mnist_mlp_keras2.py", "mnist_cnn_keras2.py", "mnist_convnet_keras3.py", "functional_mnist_keras3.py",
         "fashion_augment_tfkeras.py", "two_inputs_keras3.py", "transfer_vgg16_functional.py"]


@pytest.fixture(scope="module")
def script_params() -> dict[str, int]:
    """Each script's own model's parameter count, built for real (one process for all of them)."""
    p = subprocess.run([sys.executable, "-c", "import json\n" + BUILD, *(str(SCRIPTS / s) for s in BUILT)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


# The public scripts whose configs also train for one epoch in the default tier (an MLP and a functional
# CNN with from_logits); the others' configs are validated for their parameter count here, the proof
# of "exit 0 means the same model", and train in the slow tier (.ci/run runs it).
TRAINED = {"mnist_mlp_keras2.py", "functional_mnist_keras3.py"}
PUBLIC = ["mnist_mlp_keras2.py", "mnist_cnn_keras2.py", "mnist_convnet_keras3.py", "functional_mnist_keras3.py",
          "fashion_augment_tfkeras.py"]


def validated_params(config: Path, *sets: str) -> int:
    p = nnctl("validate", config, *[a for s in sets for a in ("--set", s)])
    return parameters_of(p)


def parameters_of(p: subprocess.CompletedProcess) -> int:
    """The parameter count `nnctl validate` printed."""
    assert p.returncode == 0, p.stderr
    return int(re.search(r"([\d,]+) parameters", p.stdout).group(1).replace(",", ""))


def validate_and_train(config: Path, *args: str) -> tuple[int, dict]:
    """`nnctl validate CONFIG` then `nnctl train CONFIG --epochs 1 ARGS`, in one new process: the
    validated parameter count and the training's result."""
    checked = nnctl("validate", config, *args, cwd=config.parent)
    trained = nnctl("train", config, *args, "--epochs", "1", "--no-report", "--json", cwd=config.parent)
    return parameters_of(checked), last_json(trained)


def convert(script: Path, out: Path, *args: str) -> tuple[dict, str]:
    p = nnctl("convert", script, "-o", out, *args)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(out) and "Traceback" not in p.stderr
    return yaml.safe_load(out.read_text()), p.stderr


def slides_table(path: Path) -> Path:
    """200 numeric features and a 5-class label: the shape of the slides' X_train and Y_train."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 200))
    label = np.argmax(x[:, :5], axis=1)
    header = ",".join([*(f"x{i}" for i in range(200)), "label"])
    rows = [",".join([*(f"{v:.4f}" for v in row), str(c)]) for row, c in zip(x, label, strict=True)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_the_slides_code_converts_to_60037_parameters_and_trains(tmp_path: Path) -> None:
    data = slides_table(tmp_path / "slides.csv")
    cfg, stderr = convert(SCRIPTS / "slides_keras2.py", tmp_path / "slides.yaml", "--data", str(data))
    assert cfg["layers"] == [{"Dense": {"units": 128, "activation": "sigmoid"}},
                             {"Dense": {"units": 256, "activation": "sigmoid"}},
                             {"Dense": {"units": 5, "activation": "softmax"}}]
    assert cfg["input_shape"] == [200] and cfg["optimizer"] == {"name": "SGD", "momentum": 0.0, "learning_rate": 0.01}
    assert (cfg["batch_size"], cfg["epochs"], cfg["shuffle"], cfg["data"]["validation_split"]) == (16, 30, True, 0.1)
    # The same Keras 2 translations as a config gets, with the same warnings.
    assert "optimizer.lr is Keras 2's spelling" in stderr and "input_dim: 200" in stderr
    checked, run = validate_and_train(tmp_path / "slides.yaml", "--set", "data.target=label")
    assert checked == 60_037
    assert run["status"] == "completed" and 0 <= run["test"]["accuracy"] <= 1


@pytest.mark.parametrize("script, published", [
    ("mnist_mlp_keras2.py", 669_706),  # Keras 2's examples/mnist_mlp.py summary
    ("mnist_cnn_keras2.py", 1_199_882),  # Keras 2's examples/mnist_cnn.py
    ("mnist_convnet_keras3.py", 34_826),  # keras.io's "Simple MNIST convnet"
    ("functional_mnist_keras3.py", 55_050),  # keras.io's functional API guide
    ("fashion_augment_tfkeras.py", None),  # tf.keras, ImageDataGenerator, EarlyStopping
])
def test_a_public_script_converts_validates_and_trains_one_epoch(tmp_path: Path, script: str,
                                                                 published: int | None,
                                                                 script_params: dict[str, int]) -> None:
    if "fashion" in script and not FASHION.is_dir():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
    cfg, stderr = convert(SCRIPTS / script, tmp_path / "c.yaml")
    real = script_params[script]
    assert published is None or real == published
    if script in TRAINED:
        checked, run = validate_and_train(tmp_path / "c.yaml", "--set", "data.fraction=0.1")
        assert run["status"] == "completed"
    else:  # the parameter count in this process; the config trains in the slow tier (below)
        checked = parameters_of(cli_process("validate", tmp_path / "c.yaml", "--set", "data.fraction=0.1"))
    assert checked == real
    assert cfg["data"]["source"] in ("mnist", "fashion_mnist")
    if "fashion" in script:  # ImageDataGenerator's arguments and the EarlyStopping callback
        assert cfg["augmentation"] == {"rotation_range": 10, "width_shift_range": 0.1, "height_shift_range": 0.1,
                                       "zoom_range": 0.1, "horizontal_flip": True}
        assert cfg["early_stopping"] == {"monitor": "val_loss", "patience": 3, "restore_best_weights": True}
        assert cfg["batch_size"] == 64  # from datagen.flow(..., batch_size=64)
    if "functional" in script:  # from_logits kept: the model ends without softmax
        assert cfg["loss"] == {"name": "SparseCategoricalCrossentropy", "from_logits": True}


@pytest.mark.slow  # three more one-epoch CNN trainings of converted configs: the slow tier (.ci/run)
@pytest.mark.parametrize("script", [s for s in PUBLIC if s not in TRAINED])
def test_the_other_public_scripts_configs_train_one_epoch(tmp_path: Path, script: str) -> None:
    if "fashion" in script and not FASHION.is_dir():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
    convert(SCRIPTS / script, tmp_path / "c.yaml")
    _, run = validate_and_train(tmp_path / "c.yaml", "--set", "data.fraction=0.1")
    assert run["status"] == "completed"


def test_a_functional_model_with_two_inputs_becomes_the_graph_form(tmp_path: Path,
                                                                   script_params: dict[str, int]) -> None:
    rng = np.random.default_rng(0)
    cols = [f"s{i}" for i in range(6)] + [f"e{i}" for i in range(3)]
    x = rng.normal(size=(120, 9))
    lines = [",".join([*cols, "mpg", "origin"])] + [",".join([*(f"{v:.3f}" for v in row), f"{row[0] * 3 + 20:.2f}",
                                                              str(i % 3)]) for i, row in enumerate(x)]
    (tmp_path / "cars.csv").write_text("\n".join(lines) + "\n")
    cfg, stderr = convert(SCRIPTS / "two_inputs_keras3.py", tmp_path / "g.yaml", "--data", "cars.csv")
    assert set(cfg["layers"]) == {"a", "b", "trunk", "mpg", "origin"}
    assert cfg["layers"]["trunk"]["from"] == ["a", "b"] and cfg["layers"]["mpg"]["from"] == "trunk"
    assert cfg["loss"] == {"mpg": "mse", "origin": "sparse_categorical_crossentropy"}
    assert set(cfg["data"]["inputs"]) == {"specs", "extra"} and "graph form" in stderr
    sets = ["data.inputs={specs: {columns: [s0, s1, s2, s3, s4, s5]}, extra: {columns: [e0, e1, e2]}}",
            "data.targets={mpg: {column: mpg}, origin: {column: origin, task: classification}}"]
    assert validated_params(tmp_path / "g.yaml", *sets) == script_params["two_inputs_keras3.py"]


def test_what_cannot_be_expressed_is_refused_one_line_per_construct_naming_its_line(tmp_path: Path) -> None:
    """Exit 0 means the same model: a Lambda, a loop over values known only at run time and a custom
    training loop are refused (exit 2), each on a line of its own as file:line: what, and nothing is
    written; a custom Layer class the model never uses is no reason to refuse."""
    p = nnctl("convert", SCRIPTS / "unsupported.py", "-o", tmp_path / "u.yaml")
    assert p.returncode == 2 and not (tmp_path / "u.yaml").exists() and "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    for line, what in ((14, "Lambda"), (15, "loop"), (21, "GradientTape")):
        assert any(f"unsupported.py:{line}: " in ln and what in ln for ln in lines), (line, p.stderr)
    assert len(lines) == 3 and "class Scale" not in p.stderr


def test_a_file_that_is_not_a_script_or_has_no_model_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.py").write_text("this is not python: [\n")
    assert "is not a Python script (line 1" in one_line_error(nnctl("convert", tmp_path / "notes.py"))
    (tmp_path / "plain.py").write_text("import numpy as np\nx = np.zeros(3)\nprint(x)\n")
    assert "no Keras model found" in one_line_error(nnctl("convert", tmp_path / "plain.py"))
    assert "not found" in one_line_error(nnctl("convert", tmp_path / "missing.py"))
    assert not (tmp_path / "notes.yaml").exists()


def test_a_saved_model_converts_from_its_config_json(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text("data: {source: digits}\nepochs: 1\n"
                                     "layers: [{Dense: {units: 32, activation: relu}}, Dropout: 0.1, "
                                     "{Dense: {units: 10, activation: softmax}}]\n"
                                     "optimizer: {name: sgd, momentum: 0.9}\n")
    run = Path(last_json(nnctl("train", tmp_path / "d.yaml", "--no-report", "--json"))["run_dir"])
    cfg, _ = convert(run / "model.keras", tmp_path / "back.yaml", "--data", "digits")
    assert cfg["layers"] == [{"Dense": {"units": 32, "activation": "relu"}}, {"Dropout": {"rate": 0.1}},
                             {"Dense": {"units": 10, "activation": "softmax"}}]
    assert cfg["optimizer"] == {"name": "SGD", "momentum": 0.9} and cfg["input_shape"] == [64]
    params = json.loads((run / "metrics.json").read_text())["params"]["total"]
    assert validated_params(tmp_path / "back.yaml") == params


# ---------------------------------------------------------------- extends:


def _family(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "exp").mkdir()
    src = Path(__file__).resolve().parent.parent / "configs" / "data" / "iris.csv"
    (tmp_path / "data" / "iris.csv").write_text(src.read_text())
    (tmp_path / "base.yaml").write_text(
        "name: family\ndata: {source: data/iris.csv, target: species, test_split: 0.2}\n"
        "layers: [{Dense: {units: 8, activation: relu}}, {Dense: {units: 3, activation: softmax}}]\n"
        "optimizer: {name: adam, learning_rate: 0.01}\nmetrics: [accuracy]\nepochs: 2\n")
    (tmp_path / "exp" / "mid.yaml").write_text("extends: ../base.yaml\noptimizer: {learning_rate: 0.05}\n"
                                               "batch_size: 8\n")
    (tmp_path / "exp" / "top.yaml").write_text(
        "extends: mid.yaml\nlayers: [{Dense: {units: 3, activation: softmax}}]\nepochs: 1\n")
    return tmp_path / "exp" / "top.yaml"


def test_extends_merges_mappings_replaces_lists_and_set_comes_last(tmp_path: Path) -> None:
    top = _family(tmp_path)
    run = Path(last_json(nnctl("train", top, "--set", "batch_size=4", "--no-report", "--json"))["run_dir"])
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["optimizer"] == {"name": "adam", "learning_rate": 0.05}  # merged key by key
    assert saved["layers"] == [{"Dense": {"units": 3, "activation": "softmax"}}]  # replaced whole
    assert (saved["batch_size"], saved["epochs"], saved["name"]) == (4, 1, "family")  # --set last
    assert "extends" not in saved and saved["data"]["source"].endswith("iris.csv")
    p = nnctl("config", "show", top, "--origin", "--set", "epochs=3")
    assert p.returncode == 0, p.stderr
    origin = {line.split()[0]: line.split("# ", 1)[1] for line in p.stdout.splitlines()}
    assert origin["optimizer.learning_rate"].endswith("mid.yaml") and origin["optimizer.name"].endswith("base.yaml")
    assert origin["layers.0.Dense.units"].endswith("top.yaml") and origin["epochs"] == "--set epochs"
    assert origin["seed"] == "default"


def test_extends_errors_name_the_file_that_wrote_the_value(tmp_path: Path) -> None:
    top = _family(tmp_path)
    (tmp_path / "exp" / "mid.yaml").write_text("extends: ../base.yaml\nbatch_size: 0\n")
    assert one_line_error(nnctl("validate", top)).startswith("error: batch_size: ") and "mid.yaml" in \
        one_line_error(nnctl("validate", top))
    (tmp_path / "exp" / "mid.yaml").write_text("extends: top.yaml\n")
    assert "a cycle of bases" in one_line_error(nnctl("validate", top))
    (tmp_path / "exp" / "mid.yaml").write_text("extends: ../nowhere.yaml\n")
    assert "base config not found" in one_line_error(nnctl("train", top))
    assert not (tmp_path / "runs").exists()


def test_a_sweep_of_a_config_with_extends_sees_its_base(tmp_path: Path) -> None:
    top = _family(tmp_path)
    first = nnctl("sweep", top, "--grid", "optimizer.learning_rate=0.1,0.01", "--dry-run").stdout
    assert first.count("nnctl train") == 2
    base = tmp_path / "base.yaml"
    base.write_text(base.read_text().replace("test_split: 0.2", "test_split: 0.3"))
    second = nnctl("sweep", top, "--grid", "optimizer.learning_rate=0.1,0.01", "--dry-run").stdout
    folder = re.compile(r"--runs-dir (\S+)")
    assert folder.search(first).group(1) != folder.search(second).group(1)  # a changed base is a new sweep


def test_scripts_whose_data_is_not_here_still_convert_fully(tmp_path: Path) -> None:
    """CIFAR-10 and IMDB are downloads (not offline here): the configs are checked as written."""
    cfg, stderr = convert(SCRIPTS / "cifar10_cnn_keras2.py", tmp_path / "cifar.yaml")
    assert cfg["input_shape"] == [32, 32, 3]  # from x_train.shape[1:] of cifar10.load_data()
    assert cfg["augmentation"] == {"width_shift_range": 0.1, "height_shift_range": 0.1, "horizontal_flip": True}
    assert cfg["early_stopping"] == {"patience": 5} and cfg["data"] == {"source": "cifar10"}
    assert cfg["optimizer"]["learning_rate"]["name"] == "InverseTimeDecay"  # rmsprop(lr=..., decay=1e-6)
    assert [next(iter(e)) if isinstance(e, dict) else e for e in cfg["layers"]][-2:] == ["Dense", "Activation"]
    assert "ModelCheckpoint" in (tmp_path / "cifar.yaml").read_text() and "ModelCheckpoint" not in stderr
    cfg, _ = convert(SCRIPTS / "imdb_lstm_keras2.py", tmp_path / "imdb.yaml")
    assert cfg["data"] == {"source": "imdb", "num_words": 20000, "sequence_length": 80}
    assert cfg["layers"][1] == {"LSTM": {"units": 128, "dropout": 0.2, "recurrent_dropout": 0.2}}


def test_a_keras_application_in_a_functional_script_converts_frozen(tmp_path: Path,
                                                                     script_params: dict[str, int]) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in "abcde":  # five classes of 64x64 colour images, as the script's Dense(5) expects
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype="uint8")).save(tmp_path / "images" / label /
                                                                                  f"{i}.png")
    cfg, _ = convert(SCRIPTS / "transfer_vgg16_functional.py", tmp_path / "t.yaml", "--data", "images")
    assert cfg["layers"][0] == {"VGG16": {"weights": "imagenet", "include_top": False, "trainable": False}}
    assert cfg["input_shape"] == [64, 64, 3] and cfg["layers"][1] == "GlobalAveragePooling2D"
    # ImageNet's weights are a download: the same architecture without them.
    assert validated_params(tmp_path / "t.yaml", "layers.0.VGG16.weights=null") == \
        script_params["transfer_vgg16_functional.py"]
