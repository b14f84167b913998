"""predict on saved runs of every task type, and exports that predict what the model does."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import write_config, write_tags_csv


def train(cli, cfg: Path) -> Path:
    r = cli("train", cfg)
    assert r.exit_code == 0, r.stderr
    return Path(r.last_line)


def predict(cli, run: Path, source: Path) -> list[dict[str, str]]:
    r = cli("predict", run, source)
    assert r.exit_code == 0, r.stderr
    return list(csv.DictReader(io.StringIO(r.stdout)))


def test_classification_from_flat_arrays_with_class_probabilities(cli, tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    run = train(cli, write_config(tmp_path / "d.yaml", """
data: {source: digits}
input_shape: [8, 8, 1]
layers: [{Conv2D: {filters: 8, kernel_size: 3, activation: relu}}, Flatten, {Dense: {units: 10, activation: softmax}}]
optimizer: {name: adam, learning_rate: 0.01}
epochs: 4
"""))
    d = load_digits()
    np.save(tmp_path / "new.npy", (d.images[-60:] / 16.0).reshape(60, 64))  # flat: regrouped to 8x8x1 as in training
    rows = predict(cli, run, tmp_path / "new.npy")
    assert len(rows) == 60 and list(rows[0])[:3] == ["id", "predicted", "probability"]
    assert [f"p_{i}" for i in range(10)] == list(rows[0])[3:]
    assert all(abs(sum(float(r[f"p_{i}"]) for i in range(10)) - 1) < 1e-3 for r in rows)
    hits = sum(int(r["predicted"]) == y for r, y in zip(rows, d.target[-60:], strict=True))
    assert hits >= 48, hits


def test_image_folder_run_predicts_class_names_for_loose_images(cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for cls, level in (("dark", 40), ("bright", 215)):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(30):
            px = np.clip(rng.normal(level, 20, size=(12, 12, 3)), 0, 255).astype("uint8")
            Image.fromarray(px).save(tmp_path / "imgs" / cls / f"{i}.png")
    (tmp_path / "new").mkdir()
    for name, level in (("a.png", 30), ("b.png", 220), ("c.jpg", 200)):
        Image.fromarray(np.full((20, 20, 3), level, "uint8")).save(tmp_path / "new" / name)  # other size: resized
    run = train(cli, write_config(tmp_path / "i.yaml", """
data: {source: imgs, test_split: 0.2}
layers: [GlobalAveragePooling2D, {Dense: {units: 2, activation: softmax}}]
optimizer: {name: adam, learning_rate: 0.3}
batch_size: 8
epochs: 15
"""))
    rows = predict(cli, run, tmp_path / "new")
    assert {r["id"]: r["predicted"] for r in rows} == {"a.png": "dark", "b.png": "bright", "c.jpg": "bright"}
    assert {"p_bright", "p_dark"} <= set(rows[0])


def test_binary_regression_and_tabular_csv_runs(cli, tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer, load_diabetes

    run = train(cli, write_config(tmp_path / "b.yaml", """
task: binary
data: {source: breast_cancer}
layers: [Normalization, {Dense: {units: 1, activation: sigmoid}}]
loss: binary_crossentropy
epochs: 3
decision: {threshold: 0.5}  # predict's columns at the usual cut; the chosen threshold: test_decision.py
"""))
    bc = load_breast_cancer()
    np.save(tmp_path / "bc.npy", bc.data[:40].astype("float32"))
    rows = predict(cli, run, tmp_path / "bc.npy")
    names = json.loads((run / "metrics.json").read_text())["dataset"]["class_names"] or ["0", "1"]
    assert list(rows[0]) == ["id", "predicted", f"p_{names[1]}"]
    assert all(0 <= float(r[f"p_{names[1]}"]) <= 1 and r["predicted"] in names for r in rows)
    hits = sum(r["predicted"] == names[y] for r, y in zip(rows, bc.target[:40], strict=True))
    assert hits >= 30, hits

    run = train(cli, write_config(tmp_path / "r.yaml", "data: {source: diabetes}\nlayers: [{Dense: 1}]\nepochs: 2\n"))
    np.save(tmp_path / "diab.npy", load_diabetes().data[:5].astype("float32"))
    rows = predict(cli, run, tmp_path / "diab.npy")
    assert list(rows[0]) == ["id", "prediction"] and len(rows) == 5

    rng = np.random.default_rng(5)
    colour = rng.choice(["red", "green", "blue"], size=200)
    size = rng.normal(size=200)
    price = np.where(colour == "red", 10.0, 0.0) + size
    lines = ["size,colour,price"] + [f"{s:.3f},{c},{p:.3f}" for s, c, p in zip(size, colour, price, strict=True)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "new.csv").write_text("size,colour\n0.0,red\n0.0,blue\n")  # no target column: it is predicted
    run = train(cli, write_config(tmp_path / "t.yaml", """
data: {source: t.csv, target: price}
layers: [{Dense: {units: 16, activation: relu}}, {Dense: 1}]
optimizer: {name: adam, learning_rate: 0.05}
epochs: 30
"""))
    rows = predict(cli, run, tmp_path / "new.csv")
    assert list(rows[0]) == ["id", "price"]
    assert float(rows[0]["price"]) - float(rows[1]["price"]) > 5  # red costs 10 more


def test_multilabel_csv_and_output_file(cli, tmp_path: Path) -> None:
    write_tags_csv(tmp_path / "m.csv", 200)
    run = train(cli, write_config(tmp_path / "m.yaml", """
data: {source: m.csv, target: tags}
layers: [{Dense: {units: 2, activation: sigmoid}}]
optimizer: {name: adam, learning_rate: 0.1}
epochs: 20
"""))
    (tmp_path / "new.csv").write_text("p,q\n2,2\n2,-2\n-2,-2\n")
    r = cli("predict", run, tmp_path / "new.csv", "--output", tmp_path / "out.csv")
    assert r.exit_code == 0 and r.stdout == "" and "3 predictions" in r.stderr
    rows = list(csv.DictReader(open(tmp_path / "out.csv")))
    assert list(rows[0]) == ["id", "predicted", "p_rain", "p_sun"]
    assert [set(filter(None, r["predicted"].split("|"))) for r in rows] == [{"rain", "sun"}, {"sun"}, set()]


def test_predict_input_errors_are_one_line(cli, tmp_path: Path) -> None:
    run = train(cli, write_config(tmp_path / "r.yaml", "data: {source: diabetes}\nlayers: [{Dense: 1}]\nepochs: 1\n"))
    np.save(tmp_path / "wrong.npy", np.zeros((3, 7), "float32"))
    for source, fragment in ((tmp_path / "wrong.npy", "this model takes [10]"), (tmp_path / "none.npy", "not found")):
        r = cli("predict", run, source)
        assert r.exit_code == 2 and fragment in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CNN with augmentation and dropout: exports must run it in inference mode."""
    import os

    from conftest import run_cli

    tmp = tmp_path_factory.mktemp("export")
    os.environ["NNCTL_RUNS_DIR"] = str(tmp / "runs")
    try:
        r = run_cli("train", write_config(tmp / "e.yaml", """
data: {source: digits}
input_shape: [8, 8, 1]
augmentation: {rotation_range: 10, zoom_range: 0.1}
layers: [{Conv2D: {filters: 4, kernel_size: 3, activation: relu}}, Flatten, {Dropout: 0.3},
         {Dense: {units: 10, activation: softmax}}]
epochs: 1
"""))
    finally:
        del os.environ["NNCTL_RUNS_DIR"]
    return Path(r.last_line)


@pytest.mark.parametrize("fmt", ["keras", "saved_model", "tflite", "onnx"])
def test_export_round_trips(cli, cnn_run: Path, fmt: str) -> None:
    r = cli("export", cnn_run, "--format", fmt, "--json")
    assert r.exit_code == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["samples"] == 8 and result["max_abs_diff"] <= 1e-4
    assert Path(result["path"]).exists() and Path(result["path"]).parent == cnn_run / "export"


def test_export_of_an_unknown_format_is_refused_and_named_inputs_export_by_name(cli, tmp_path: Path,
                                                                              cnn_run: Path) -> None:
    r = cli("export", cnn_run, "--format", "pickle")
    assert r.exit_code == 2 and "saved_model" in r.stderr
    (tmp_path / "t.csv").write_text("size,colour,y\n" + "".join(f"{i},{'ab'[i % 2]},{i % 2}\n" for i in range(40)))
    text = "data: {source: t.csv, target: y}\nlayers: [{Dense: {units: 2, activation: softmax}}]\nepochs: 1\n"
    run = train(cli, write_config(tmp_path / "t.yaml", text))
    # One named input per column (a string one for the category): TFLite's signature takes them by name.
    r = cli("export", run, "--format", "tflite", "--json")
    assert r.exit_code == 0 and json.loads(r.last_line)["max_abs_diff"] <= 1e-4, r.stderr
    r = cli("export", run, "--format", "saved_model")
    assert r.exit_code == 0, r.stderr


def test_many_inputs_predict_what_keras_predicts(cli, tmp_path: Path) -> None:
    """400 rows: past pipeline.COMPILE_FROM_BATCHES, so the compiled path; Keras' predict is the reference."""
    import keras
    from sklearn.datasets import load_digits

    run = train(cli, write_config(tmp_path / "d.yaml", """
data: {source: digits}
layers: [{Dense: {units: 10, activation: softmax}}]
epochs: 1
"""))
    x = (load_digits().data[:400] / 16.0).astype("float32")
    np.save(tmp_path / "new.npy", x)
    rows = predict(cli, run, tmp_path / "new.npy")
    want = keras.models.load_model(run / "model.keras").predict(x, verbose=0)
    got = np.array([[float(r[f"p_{i}"]) for i in range(10)] for r in rows])
    assert got.shape == (400, 10) and np.allclose(got, want, atol=1e-6)


def test_metrics_json_fits_the_schema_that_nnctl_schema_metrics_prints(cli, cnn_run: Path) -> None:
    import jsonschema

    r = cli("schema", "--metrics")
    assert r.exit_code == 0
    schema = json.loads(r.stdout)
    record = json.loads((cnn_run / "metrics.json").read_text())
    jsonschema.validate(record, schema)
    assert {"status", "test", "val", "best_epoch", "dataset", "versions"} <= set(schema["properties"])
    assert all(p.get("description") for p in schema["properties"].values())  # documented by its fields
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**record, "status": "done"}, schema)


@pytest.mark.parametrize("case", ["classification", "binary"])
def test_a_model_trained_on_logits_predicts_probabilities(case: str, tmp_path: Path) -> None:
    """`loss: {from_logits: true}` (as `nnctl convert` writes for a script's logits): the model outputs
    scores, and predict writes probabilities from them, in [0, 1], a class's summing to 1, with the
    threshold on the same scale."""
    from conftest import nnctl

    source, units = ("iris", 3) if case == "classification" else ("breast_cancer", 1)
    loss = "sparse_categorical_crossentropy" if case == "classification" else "binary_crossentropy"
    cfg = write_config(tmp_path / "c.yaml", f"data: {{source: {source}}}\nlayers: [{{Dense: {{units: 8, activation: "
                       f"relu}}}}, {{Dense: {{units: {units}}}}}]\nloss: {{name: {loss}, from_logits: true}}\n"
                       "epochs: 3\nreport: false\nimportance: false\n")
    trained = nnctl("-q", "train", cfg, "--json", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    run = Path(json.loads(trained.stdout.splitlines()[-1])["run_dir"])
    from sklearn import datasets

    x = (datasets.load_iris() if case == "classification" else datasets.load_breast_cancer()).data[:40]
    np.save(tmp_path / "x.npy", x.astype("float32"))
    p = nnctl("predict", run, tmp_path / "x.npy", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    probs = np.array([[float(v) for k, v in r.items() if k.startswith("p_")] for r in rows])
    assert probs.min() >= 0 and probs.max() <= 1
    if case == "classification":
        assert np.allclose(probs.sum(axis=1), 1, atol=1e-4)
    else:
        threshold = json.loads((run / "metrics.json").read_text())["decision"]["threshold"]
        assert 0 <= threshold <= 1
        assert all((float(r["p_1"] if "p_1" in r else list(r.values())[2]) >= threshold) ==
                   (r["predicted"] == list(rows[0].keys())[2].removeprefix("p_")) for r in rows)
