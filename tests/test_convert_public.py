"""`nnctl convert` on the Keras code people write, as issue 37 found it in public scripts: each
reproduction converts to exactly the script's model (its parameter count, built for real here in a
subprocess) or is refused in one line per construct naming file:line. Exit 0 means the same model.
benchmarks/convert_corpus.py measures the same on 58 public scripts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import nnctl

HEAD = "from tensorflow import keras\nfrom tensorflow.keras import layers\n"

SCRIPTS = {
    "concatenate_class": HEAD + """
a = keras.Input(shape=(10,), name="a"); b = keras.Input(shape=(5,), name="b")
features = layers.Concatenate()([layers.Dense(8)(a), layers.Dense(8)(b)])
model = keras.Model(inputs=[a, b], outputs=layers.Dense(1, activation="sigmoid")(features))
model.compile(optimizer="rmsprop", loss="binary_crossentropy")
""",
    "add_class": HEAD + """
a = keras.Input(shape=(10,), name="a"); b = keras.Input(shape=(5,), name="b")
summed = layers.Add()([layers.Dense(8)(a), layers.Dense(8)(b)])
model = keras.Model(inputs=[a, b], outputs=layers.Dense(1, activation="sigmoid")(summed))
model.compile(optimizer="rmsprop", loss="binary_crossentropy")
""",
    "bidirectional": HEAD + """
model = keras.Sequential([keras.Input(shape=(100,)), layers.Embedding(20000, 128),
                          layers.Bidirectional(layers.LSTM(64)), layers.Dense(1, activation="sigmoid")])
model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
""",
    "time_distributed": HEAD + """
model = keras.Sequential([keras.Input(shape=(12, 8)), layers.TimeDistributed(layers.Dense(10)), layers.Flatten(),
                          layers.Dense(1)])
model.compile("adam", "mse")
""",
    "initializer_object": HEAD + """
from tensorflow.keras import initializers, regularizers
model = keras.Sequential([keras.Input(shape=(20,)),
                          layers.Dense(32, kernel_initializer=initializers.RandomNormal(stddev=0.01),
                                       kernel_regularizer=regularizers.l2(1e-4)),
                          layers.Dense(1)])
model.compile("adam", "mse")
""",
    "len_of_a_constant": HEAD + """
chars = "0123456789+ "
MAXLEN = 7
model = keras.Sequential()
model.add(layers.LSTM(128, input_shape=(MAXLEN, len(chars))))
model.add(layers.Dense(len(chars), activation="softmax"))
model.compile(loss="categorical_crossentropy", optimizer="adam")
""",
    "boston_shape": HEAD + """
(train_data, train_targets), (test_data, test_targets) = keras.datasets.boston_housing.load_data()
model = keras.Sequential()
model.add(layers.Dense(64, activation="relu", input_shape=(train_data.shape[1],)))
model.add(layers.Dense(64, activation="relu"))
model.add(layers.Dense(1))
model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
""",
    "function_with_literals": HEAD + """
def make_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(16, 3, activation="relu")(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    units = 1 if num_classes == 2 else num_classes
    outputs = layers.Dense(units, activation="softmax")(x)
    return keras.Model(inputs, outputs)

model = make_model(input_shape=(32, 32, 3), num_classes=3)
model.compile("adam", "sparse_categorical_crossentropy")
""",
    "builtins_and_is_not": HEAD + """
depth = 14
blocks = int((depth - 2) / 6)

def block(inputs, filters=8, activation="relu"):
    x = layers.Conv2D(filters, 3, padding="same")(inputs)
    if activation is not None and filters > 0:
        x = layers.Activation(activation)(x)
    return x

inputs = keras.Input(shape=(16, 16, 3))
x = block(inputs)
for i in range(blocks):
    x = block(x, filters=max(8, 4 * (i + 1)), activation=None)
x = layers.GlobalAveragePooling2D()(x)
model = keras.Model(inputs, layers.Dense(3, activation="softmax")(x))
model.compile("adam", "sparse_categorical_crossentropy")
""",
    "keras2_gru": """from __future__ import print_function
from keras.models import Sequential
from keras.layers import Dense, Embedding, GRU
model = Sequential()
model.add(Embedding(1000, 16, input_shape=(20,)))
model.add(GRU(32))
model.add(Dense(1, activation="sigmoid"))
model.compile(loss="binary_crossentropy", optimizer="adam")
""",
    "lists_added": HEAD + """
features = [layers.Dense(32, activation="relu"), layers.Dense(16, activation="relu")]
head = [layers.Dense(3, activation="softmax")]
model = keras.Sequential([keras.Input(shape=(4,))] + features + head)
model.compile("adam", "sparse_categorical_crossentropy")
""",
    "nested_models": HEAD + """
inputs = keras.Input(shape=(28, 28, 1))
encoder = keras.Sequential([layers.Flatten(), layers.Dense(32, activation="relu")])
decoder = keras.Sequential([layers.Dense(784, activation="sigmoid"), layers.Reshape((28, 28, 1))])
model = keras.Model(inputs, decoder(encoder(inputs)))
model.compile("adam", "binary_crossentropy")
""",
    "residual_plain_metrics": HEAD + """
inputs = keras.Input(shape=(16,))
x = layers.Dense(16, activation="relu")(inputs)
y = layers.Dense(16, activation="relu")(x)
x = layers.add([x, y])
outputs = layers.Dense(3, activation="softmax")(x)
model = keras.Model(inputs, outputs)
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
""",
}

# The script's own model: run up to its compile() with keras.datasets answering arrays of the real
# shapes (nothing downloaded), and counted.
BUILD = r"""
import json, sys, numpy as np, keras
sets = {"boston_housing": ((404, 13), (102, 13))}
for name, (a, b) in sets.items():
    getattr(keras.datasets, name).load_data = lambda a=a, b=b: ((np.zeros(a), np.zeros(a[0])),
                                                              (np.zeros(b), np.zeros(b[0])))
counts = {}
for path in sys.argv[1:]:
    source = open(path).read()
    source = source[: source.index("model.compile")]
    if "from __future__" in source:  # a Keras 2 script: Keras 2's GRU default, which Keras 3 changed
        source = source.replace("GRU(32)", "GRU(32, reset_after=False)")
    scope = {"__name__": "__main__"}
    exec(compile(source, path, "exec"), scope)
    model = scope["model"]
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    counts[path.rsplit("/", 1)[-1]] = [model.count_params(), trainable]
print(json.dumps(counts))
"""


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scripts")
    for name, text in SCRIPTS.items():
        (folder / f"{name}.py").write_text(text)
    return folder


@pytest.fixture(scope="module")
def own_counts(scripts: Path) -> dict[str, list[int]]:
    p = subprocess.run([sys.executable, "-c", BUILD, *(str(scripts / f"{n}.py") for n in SCRIPTS)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def config_counts(config: Path) -> list[int]:
    """[total, trainable] of the config's model, as `nnctl summary` prints them."""
    p = nnctl("summary", config)
    assert p.returncode == 0, p.stderr
    total = int(re.search(r"Total params: ([\d,]+)", p.stdout).group(1).replace(",", ""))
    trainable = int(re.search(r"Trainable params: ([\d,]+)", p.stdout).group(1).replace(",", ""))
    return [total, trainable]


def table(path: Path, columns: list[str], classes: int) -> Path:
    rng = np.random.default_rng(0)
    rows = [",".join([*columns, "y"])] + [",".join([*(f"{v:.3f}" for v in rng.normal(size=len(columns))),
                                                   str(i % classes)]) for i in range(40)]
    path.write_text("\n".join(rows) + "\n")
    return path


GRAPHS = {"concatenate_class": ({"a": 10, "b": 5}, 2), "add_class": ({"a": 10, "b": 5}, 2),
          "residual_plain_metrics": ({"inputs": 16}, 3)}


@pytest.mark.parametrize("name", [n for n in SCRIPTS if n not in GRAPHS])
def test_a_reproduction_converts_to_the_scripts_own_model(name: str, scripts: Path, tmp_path: Path,
                                                          own_counts: dict[str, list[int]]) -> None:
    out = tmp_path / f"{name}.yaml"
    p = nnctl("convert", scripts / f"{name}.py", "-o", out, "--data", "iris")
    assert p.returncode == 0, p.stderr
    assert config_counts(out) == own_counts[f"{name}.py"], out.read_text()


@pytest.mark.parametrize("name", list(GRAPHS))
def test_merges_as_classes_and_a_residual_graph_become_the_graph_form(name: str, scripts: Path, tmp_path: Path,
                                                                      own_counts: dict[str, list[int]]) -> None:
    inputs, classes = GRAPHS[name]
    columns = {n: [f"{n}{i}" for i in range(k)] for n, k in inputs.items()}
    data = table(tmp_path / "t.csv", [c for cs in columns.values() for c in cs], classes)
    out = tmp_path / f"{name}.yaml"
    p = nnctl("convert", scripts / f"{name}.py", "-o", out, "--data", data)
    assert p.returncode == 0, p.stderr
    cfg = yaml.safe_load(out.read_text())
    if name != "residual_plain_metrics":
        (merged,) = [b for b in cfg["layers"].values() if isinstance(b, dict) and isinstance(b.get("from"), list)]
        assert merged.get("merge", "Concatenate") == ("Add" if name == "add_class" else "Concatenate")
    else:  # one output: the plain metrics list is that output's
        assert cfg["metrics"] == {next(iter(cfg["data"]["targets"])): ["accuracy"]}
    (target,) = cfg["data"]["targets"]
    sets = ["data.inputs={" + ", ".join(f"{n}: {{columns: [{', '.join(cs)}]}}" for n, cs in columns.items()) + "}",
            f"data.targets={{{target}: {{column: y}}}}"]
    checked = nnctl("validate", out, *[a for s in sets for a in ("--set", s)])
    assert checked.returncode == 0, checked.stderr
    assert int(re.search(r"([\d,]+) parameters", checked.stdout).group(1).replace(",", "")) == \
        own_counts[f"{name}.py"][0]


REFUSED = {
    "custom_layer_functional": (HEAD + """
class Scale(layers.Layer):
    def call(self, x):
        return x * 2.0

inputs = keras.Input(shape=(8,))
x = Scale()(inputs)
model = keras.Model(inputs, layers.Dense(1)(x))
""", [(9, "Scale is the script's own Layer")]),
    "custom_layer_sequential": (HEAD + """
class Scale(layers.Layer):
    def call(self, x):
        return x * 2.0

model = keras.Sequential([keras.Input(shape=(8,)), layers.Dense(4), Scale(), layers.Dense(1)])
""", [(8, "Scale is the script's own Layer")]),
    "lambda_functional": (HEAD + """
inputs = keras.Input(shape=(8,))
x = layers.Lambda(lambda t: t * 2)(inputs)
model = keras.Model(inputs, layers.Dense(1)(x))
""", [(5, "Lambda")]),
    "run_time_value": (HEAD + """
import numpy as np
data = np.load("features.npy")
model = keras.Sequential([keras.Input(shape=(8,)), layers.Dense(data.shape[1])])
""", [(6, "data.shape is known only when the script runs")]),
    "load_model": (HEAD + """
model = keras.models.load_model("model.keras")
model.fit(x, y)
""", [(4, "load_model")]),
    "sklearn_wrapper": (HEAD + """
from keras.wrappers.scikit_learn import KerasClassifier

def make_model():
    return keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3, activation="softmax")])

classifier = KerasClassifier(make_model, batch_size=32)
""", [(9, "KerasClassifier")]),
    "variable_length": (HEAD + """
inputs = keras.Input(shape=(None, 8))
x = layers.LSTM(16)(inputs)
model = keras.Model(inputs, layers.Dense(1)(x))
""", [(4, "variable length")]),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_what_a_config_cannot_say_is_refused_naming_file_and_line(name: str, tmp_path: Path) -> None:
    text, expected = REFUSED[name]
    script = tmp_path / f"{name}.py"
    script.write_text(text)
    p = nnctl("convert", script, "-o", tmp_path / "out.yaml")
    assert p.returncode == 2 and not (tmp_path / "out.yaml").exists(), p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr
    for line, what in expected:
        assert f"{script}:{line}: " in p.stderr and what in p.stderr, p.stderr


def test_a_loop_unrolled_many_times_says_each_comment_once(tmp_path: Path) -> None:
    script = tmp_path / "loop.py"
    script.write_text(HEAD + """
model = keras.Sequential([keras.Input(shape=(4,))])
for i in range(199):
    model.add(layers.Dense(4))
model.add(layers.Dense(1))
model.compile("adam", "mse")
model.fit(x, y, validation_data=(xv, yv))
""")
    p = nnctl("convert", script, "-o", tmp_path / "loop.yaml", "--data", "iris")
    assert p.returncode == 0, p.stderr
    text = (tmp_path / "loop.yaml").read_text()
    assert text.count("# line 9:") == 1 and len(yaml.safe_load(text)["layers"]) == 200


def test_data_path_reads_a_keras_set_from_a_local_file_offline(tmp_path: Path) -> None:
    """Keras 3 refuses a path where its loaders once took one: nnctl reads the user's file itself."""
    seqs = np.empty(60, dtype=object)
    for i in range(60):
        seqs[i] = [1, 5 + i % 7, 9, 4, 20 + i % 3]
    np.savez(tmp_path / "my_imdb.npz", x_train=seqs, y_train=np.arange(60) % 2, x_test=seqs,
             y_test=np.arange(60) % 2)
    cfg = tmp_path / "imdb.yaml"
    cfg.write_text("data: {source: imdb, path: my_imdb.npz, sequence_length: 8, num_words: 100}\n"
                   "layers: [{Embedding: {input_dim: 100, output_dim: 4}}, GlobalAveragePooling1D, "
                   "{Dense: {units: 1, activation: sigmoid}}]\nepochs: 1\nreport: false\n")
    p = nnctl("-q", "train", cfg, "--json", env={"NNCTL_OFFLINE": "1"}, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    meta = json.loads((Path(json.loads(p.stdout.splitlines()[-1])["run_dir"]) / "metrics.json").read_text())
    assert meta["dataset"]["sizes"]["test"] == 60 and meta["dataset"]["input_shape"] == [8]


def test_a_converted_config_with_from_logits_validates_without_the_softmax_warning(tmp_path: Path) -> None:
    script = tmp_path / "logits.py"
    script.write_text(HEAD + """
model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(8, activation="relu"), layers.Dense(3)])
model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
""")
    assert nnctl("convert", script, "-o", tmp_path / "l.yaml", "--data", "iris").returncode == 0
    checked = nnctl("validate", tmp_path / "l.yaml")
    assert checked.returncode == 0, checked.stderr
    assert "from_logits" not in checked.stderr and "not probabilities" not in checked.stderr, checked.stderr
    plain = tmp_path / "plain.yaml"  # the same model without from_logits is still warned about
    plain.write_text((tmp_path / "l.yaml").read_text().replace("from_logits: true", "from_logits: false"))
    assert "pass from_logits: true" in nnctl("validate", plain).stderr


def test_a_normalization_layer_adapted_by_the_script_is_kept_and_adapted_by_nnctl(tmp_path: Path) -> None:
    """TensorFlow's regression tutorial: Normalization(axis=-1) adapted on the features, first in the
    Sequential. The config keeps the layer (nnctl adapts preprocessing layers on the training split) and
    adds no standardisation of its own: 2 x 9 + 1 statistics and the Dense layers, as the script has."""
    script = tmp_path / "regression.py"
    script.write_text("""import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers
train_features = np.load("features.npy")
normalizer = layers.Normalization(axis=-1)
normalizer.adapt(np.array(train_features))
model = keras.Sequential([normalizer, layers.Dense(64, activation="relu"), layers.Dense(1)])
model.compile(loss="mean_absolute_error", optimizer=tf.keras.optimizers.Adam(0.001))
""")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 9)) * 10 + 5
    rows = [",".join([*(f"c{i}" for i in range(9)), "y"])] + [",".join(f"{v:.3f}" for v in [*r, r.sum()]) for r in x]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    assert nnctl("convert", script, "-o", tmp_path / "r.yaml", "--data", tmp_path / "t.csv").returncode == 0
    cfg = yaml.safe_load((tmp_path / "r.yaml").read_text())
    assert cfg["layers"][0] == {"Normalization": {"axis": -1}} and cfg["data"]["standardize"] is False
    checked = nnctl("validate", tmp_path / "r.yaml", "--set", "data.target=y")
    assert checked.returncode == 0, checked.stderr
    assert int(re.search(r"([\d,]+) parameters", checked.stdout).group(1).replace(",", "")) == \
        (2 * 9 + 1) + (9 * 64 + 64) + (64 + 1)
