"""Each data source through the CLI on small generated files: shapes, labels, splits."""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import run_dirs, write_config, write_tags_csv


def train_ok(cli, cfg: Path, *args: str) -> tuple[Path, dict]:
    r = cli("train", cfg, *args)
    assert r.exit_code == 0, r.stderr
    run = Path(r.last_line)
    return run, json.loads((run / "metrics.json").read_text())


def fail_2(cli, cfg: Path, *fragments: str) -> str:
    r = cli("validate", cfg)
    assert r.exit_code == 2, r.stdout
    assert "Traceback" not in r.stderr
    for f in fragments:
        assert f in r.stderr, (f, r.stderr)
    return r.stderr


# ---------------------------------------------------------------- arrays


def test_npy_pair_with_separate_validation_file(cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    np.save(tmp_path / "x_all.npy", x)
    np.save(tmp_path / "y_all.npy", y)
    np.savez(tmp_path / "val.npz", x=x[:30], y=y[:30])
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: x_all.npy, labels: y_all.npy, validation: val.npz, test_split: 0.25}
layers: [{Dense: {units: 2, activation: softmax}}]
epochs: 2
""")
    run, meta = train_ok(cli, cfg)
    assert meta["dataset"]["sizes"] == {"train": 150, "val": 30, "test": 50}
    assert meta["dataset"]["input_shape"] == [6]


def test_npz_string_labels_and_own_test_split(cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(120, 3)).astype("float32")
    names = np.where(x[:, 0] > 0, "cat", "dog")
    np.savez(tmp_path / "d.npz", x_train=x[:100], y_train=names[:100], x_test=x[100:], y_test=names[100:])
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: d.npz}
layers: [{Dense: {units: 2, activation: softmax}}]
epochs: 1
""")
    _, meta = train_ok(cli, cfg)
    assert meta["dataset"]["class_names"] == ["cat", "dog"]
    assert meta["dataset"]["sizes"] == {"train": 90, "val": 10, "test": 20}


def _idx(path: Path, arr: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype("uint8").tobytes())


def test_idx_folder_gzipped_with_its_own_test_split(cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    folder = tmp_path / "idx"
    folder.mkdir()
    for prefix, n in (("train", 80), ("t10k", 20)):
        y = rng.integers(0, 3, size=n)
        x = (rng.random((n, 6, 6)) * 60 + y[:, None, None] * 60).astype("uint8")
        _idx(folder / f"{prefix}-images-idx3-ubyte.gz", x)
        _idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y)
    cfg = write_config(tmp_path / "c.yaml", f"""
data: {{source: {folder}, validation_split: 0.25}}
layers: [Flatten, {{Dense: {{units: 3, activation: softmax}}}}]
epochs: 1
""")
    _, meta = train_ok(cli, cfg)
    assert meta["dataset"]["sizes"] == {"train": 60, "val": 20, "test": 20}
    assert meta["dataset"]["input_shape"] == [6, 6, 1]


def test_truncated_idx_file_is_a_clear_error(cli, tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    folder.mkdir()
    _idx(folder / "train-images-idx3-ubyte.gz", np.zeros((10, 4, 4)))
    (folder / "train-labels-idx1-ubyte").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 10) + b"\1" * 3)
    cfg = write_config(tmp_path / "c.yaml", f"data: {{source: {folder}}}\nlayers: [Flatten, {{Dense: 2}}]\n")
    fail_2(cli, cfg, "truncated IDX file")


# ---------------------------------------------------------------- images


def _images(root: Path, sizes: list[tuple[int, int]]) -> None:
    from PIL import Image

    rng = np.random.default_rng(4)
    for cls, level in (("dark", 40), ("light", 200)):
        (root / cls).mkdir(parents=True)
        for i, (w, h) in enumerate(sizes):
            pixels = np.clip(rng.normal(level, 20, size=(h, w, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(root / cls / f"{i}.png")


def test_image_folder_classifier(cli, tmp_path: Path) -> None:
    _images(tmp_path / "imgs", [(12, 10)] * 20)
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: imgs, test_split: 0.25, validation_split: 0.2}
layers: [{Conv2D: {filters: 4, kernel_size: 3, activation: relu}}, GlobalAveragePooling2D,
         {Dense: {units: 2, activation: softmax}}]
epochs: 3
optimizer: {name: adam, learning_rate: 0.05}
""")
    _, meta = train_ok(cli, cfg)
    assert meta["dataset"]["input_shape"] == [10, 12, 3]  # height, width, channels
    assert meta["dataset"]["class_names"] == ["dark", "light"]
    assert meta["dataset"]["sizes"] == {"train": 24, "val": 6, "test": 10}


def test_mixed_image_sizes_need_image_size(cli, tmp_path: Path) -> None:
    _images(tmp_path / "imgs", [(12, 10), (16, 16)] * 5)
    text = "data: {source: imgs}\nlayers: [Flatten, {Dense: {units: 2, activation: softmax}}]\nepochs: 1\n"
    fail_2(cli, write_config(tmp_path / "c.yaml", text), "images of different sizes", "data.image_size")
    cfg = write_config(tmp_path / "ok.yaml", text.replace("{source: imgs}", "{source: imgs, image_size: [8, 8]}"))
    _, meta = train_ok(cli, cfg)
    assert meta["dataset"]["input_shape"] == [8, 8, 3]


# ---------------------------------------------------------------- CSV


def test_csv_with_categorical_features_encodes_them_inside_the_model(cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 240
    colour = rng.choice(["red", "green", "blue"], size=n)
    size = rng.normal(size=n)
    label = np.where((colour == "red") | (size > 1), "yes", "no")
    lines = ["size,colour,label"] + [f"{s:.3f},{c},{lbl}" for s, c, lbl in zip(size, colour, label, strict=True)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: t.csv, target: label}
layers: [{Dense: {units: 8, activation: relu}}, {Dense: {units: 2, activation: softmax}}]
epochs: 2
""")
    run, meta = train_ok(cli, cfg)
    assert meta["dataset"]["class_names"] == ["no", "yes"]
    assert meta["dataset"]["input_shape"] == [2]  # two columns, one of them categorical
    import keras

    model = keras.models.load_model(run / "model.keras")
    import tensorflow as tf

    probs = model.predict({"size": tf.constant([[0.1]]), "colour": tf.constant([["red"]])}, verbose=0)
    assert probs.shape == (1, 2)  # raw rows, strings included, go straight into the saved model


def test_csv_regression_with_two_targets(cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(150, 3))
    lines = ["a,b,c,u,v"] + [f"{r[0]:.4f},{r[1]:.4f},{r[2]:.4f},{r[0] + r[1]:.4f},{r[2] * 2.5:.4f}" for r in x]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: r.csv, target: [u, v]}
layers: [{Dense: {units: 8, activation: relu}}, {Dense: 2}]
epochs: 2
""")
    _, meta = train_ok(cli, cfg)
    assert meta["task"] == "regression"
    assert {"mae", "RootMeanSquaredError"} <= set(meta["test"])
    assert meta["dataset"]["input_shape"] == [3]


def test_csv_multilabel_list_column(cli, tmp_path: Path) -> None:
    write_tags_csv(tmp_path / "m.csv", 120)
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: m.csv, target: tags}
layers: [{Dense: {units: 2, activation: sigmoid}}]
epochs: 1
""")
    _, meta = train_ok(cli, cfg)
    assert meta["task"] == "multilabel"
    assert meta["dataset"]["class_names"] == ["rain", "sun"]


def test_time_series_windows_for_an_lstm(cli, tmp_path: Path) -> None:
    t = np.arange(300)
    temp = np.sin(t / 10) + 0.1 * np.cos(t / 3)
    lines = ["hour,temp,humidity"] + [f"{i},{v:.4f},{0.5 + 0.1 * v:.4f}" for i, v in zip(t, temp, strict=True)]
    (tmp_path / "ts.csv").write_text("\n".join(lines) + "\n")
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: ts.csv, target: temp, features: [temp, humidity], sequence_length: 12, horizon: 3,
       test_split: 0.2, validation_split: 0.1}
layers: [{LSTM: 8}, {Dense: 1}]
epochs: 2
""")
    _, meta = train_ok(cli, cfg)
    n = 300 - 12 - 3 + 1
    sizes = meta["dataset"]["sizes"]
    assert sum(sizes.values()) == n and sizes["test"] == round(n * 0.2)
    assert meta["dataset"]["input_shape"] == [12, 2]
    assert meta["task"] == "regression"


def test_text_classifier_vectorises_inside_the_model(cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    good, bad = ["great", "fun", "lovely", "superb"], ["awful", "dull", "boring", "bad"]
    rows = []
    for i in range(160):
        words = good if i % 2 else bad
        rows.append(f'"{" ".join(rng.choice(words + ["the", "film", "was"], size=6))}",{"pos" if i % 2 else "neg"}')
    (tmp_path / "reviews.csv").write_text("review,sentiment\n" + "\n".join(rows) + "\n")
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: reviews.csv, text: review, target: sentiment}
layers:
  - TextVectorization: {max_tokens: 50, output_sequence_length: 8}
  - Embedding: {input_dim: 50, output_dim: 8}
  - Conv1D: {filters: 8, kernel_size: 3, activation: relu}
  - GlobalMaxPooling1D
  - Dense: {units: 2, activation: softmax}
epochs: 3
optimizer: {name: adam, learning_rate: 0.01}
""")
    run, meta = train_ok(cli, cfg)
    assert meta["dataset"]["class_names"] == ["neg", "pos"]
    import keras

    model = keras.models.load_model(run / "model.keras")
    import tensorflow as tf

    assert model.predict(tf.constant([["a superb fun film"]]), verbose=0).shape == (1, 2)


def test_text_without_text_vectorization_is_explained(cli, tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("review,label\nnice,1\nbad,0\n" * 10)
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: r.csv, text: review, target: label}
layers: [{Dense: {units: 2, activation: softmax}}]
""")
    fail_2(cli, cfg, "layers.0", "TextVectorization")


@pytest.mark.parametrize(("content", "extra", "fragments"), [
    ("a,b,label\n1,2,x\n3,4,y\n", "target: lable", ["data.target", "no column 'lable'", "did you mean 'label'"]),
    ("a,b,label\n1,2,x\n3,4,5,6\n", "target: label", ["data.source", "ragged rows", "line 3"]),
    ("a,b,label\n1,2,x\n3,4,y\n", "", ["data.target", "columns: a, b, label"]),
    ("a,b,label\n1,,x\n3,4,y\n", "target: label, missing: {b: error}",
     ["data.missing.b", "column 'b' has a missing value (line 2)"]),
    ("a,b,label\n1,,x\n3,4,y\n", "target: label, missing: {b: average}", ["data.missing", "average", "median"]),
])
def test_bad_csv_fails_before_training(cli, tmp_path: Path, content: str, extra: str, fragments: list[str]) -> None:
    (tmp_path / "bad.csv").write_text(content)
    cfg = write_config(tmp_path / "c.yaml", f"""
data: {{source: bad.csv, {extra}}}
layers: [{{Dense: {{units: 2, activation: softmax}}}}]
""".replace(", }", "}"))
    fail_2(cli, cfg, *fragments)
    assert run_dirs(tmp_path) == []


# ---------------------------------------------------------------- splits and streaming


def test_splits_are_stratified_seeded_and_fingerprinted(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: iris, test_split: 0.2, validation_split: 0.25}
layers: [{Dense: {units: 3, activation: softmax}}]
epochs: 1
""")
    r1 = cli("validate", cfg)
    assert r1.exit_code == 0
    _, a = train_ok(cli, cfg)
    _, b = train_ok(cli, cfg)
    _, c = train_ok(cli, cfg, "--set", "seed=1")
    assert a["dataset"]["fingerprints"] == b["dataset"]["fingerprints"]
    assert a["dataset"]["fingerprints"]["test"] != c["dataset"]["fingerprints"]["test"]
    assert a["dataset"]["sizes"] == {"train": 90, "val": 30, "test": 30}
    from nnctl.config import load_config
    from nnctl.data import load

    data = load(load_config(cfg))
    assert np.bincount(data.test.y).tolist() == [10, 10, 10]  # 50/50/50 classes, stratified


def test_large_npy_streams_from_disk(cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    x = (rng.random((500, 8, 8)) * 255).astype("uint8")
    y = (x.mean(axis=(1, 2)) > 127).astype("int64")
    np.save(tmp_path / "x_big.npy", x)
    np.save(tmp_path / "y_big.npy", y)
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: x_big.npy, stream: true}
layers: [Flatten, {Dense: {units: 2, activation: softmax}}]
epochs: 2
batch_size: 50
""")
    run, meta = train_ok(cli, cfg)
    assert meta["dataset"]["streamed"] is True
    assert meta["dataset"]["sizes"] == {"train": 360, "val": 40, "test": 100}
    assert len((run / "history.csv").read_text().splitlines()) == 3


def test_offline_builtin_without_a_copy_says_what_to_do(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", "data: {source: cifar10}\nlayers: [Flatten, {Dense: 10}]\n")
    fail_2(cli, cfg, "data.source", "cifar10 is not available here", "cifar-10-batches-py")


def test_datasets_lists_builtins_without_tensorflow(cli) -> None:
    probe = ("import sys; from typer.testing import CliRunner; from nnctl.cli import app; "
             "r = CliRunner().invoke(app, ['datasets', '--json']); "
             "print(r.exit_code, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert p.stdout.split() == ["0", "False", "False"], p.stdout + p.stderr  # a new process: nothing imported it
    r = cli("datasets", "--json")
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert set(rows) >= {"mnist", "fashion_mnist", "cifar10", "imdb", "digits", "diabetes"}
    assert rows["digits"]["available"] == "yes"
    assert rows["cifar10"]["available"] == "needs download"


def test_large_csv_streams_through_tf_data(cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    x = rng.normal(size=(400, 3))
    lines = ["a,b,c,label"] + [f"{r[0]:.4f},{r[1]:.4f},{r[2]:.4f},{int(r[0] + r[1] > 0)}" for r in x]
    (tmp_path / "big.csv").write_text("\n".join(lines) + "\n")
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: big.csv, target: label, stream: true}
layers: [Normalization, {Dense: {units: 2, activation: softmax}}]
epochs: 2
batch_size: 40
""")
    run, meta = train_ok(cli, cfg)
    assert meta["dataset"]["streamed"] is True
    assert meta["dataset"]["sizes"] == {"train": 288, "val": 32, "test": 80}
    assert meta["test"]["accuracy"] > 0.6  # the streamed rows really reach the model


def test_npz_arrays_read_in_one_call_equal_numpys(tmp_path: Path) -> None:
    from nnctl.data.files import _Npz

    arrays = {"x": np.asfortranarray(np.arange(24, dtype="float32").reshape(4, 6)),
              "y": np.array(["a", "bb", "c", "d"]), "z": np.arange(5, dtype=">i4")}
    for save in (np.savez, np.savez_compressed):
        save(tmp_path / "a.npz", **arrays)
        with _Npz(tmp_path / "a.npz") as z:
            assert sorted(z.files) == ["x", "y", "z"]
            for name, want in arrays.items():
                got = z[name]
                assert got.dtype == want.dtype and np.array_equal(got, want) and got.flags.writeable


def test_an_npz_of_objects_is_one_line_exit_2(cli, tmp_path: Path) -> None:
    np.savez(tmp_path / "o.npz", x=np.array([{}, 1], dtype=object), y=np.array([0, 1]))
    cfg = write_config(tmp_path / "o.yaml", f"data: {{source: {tmp_path / 'o.npz'}}}\nlayers: [{{Dense: 1}}]\n")
    r = cli("validate", cfg)
    assert r.exit_code == 2 and "not a readable .npz file" in r.stderr and "object arrays" in r.stderr, r.stderr
