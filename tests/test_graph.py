"""The graph form: named inputs of different types, branches joined by merges (residual Add
included), several outputs of different tasks; every command on such a run; every mistake in the
structure as one line with its key path (exit 2, nothing in runs/)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_dirs, write_config

COLORS = ("red", "green", "blue")


def mixed_csv(tmp_path: Path, n: int = 360) -> Path:
    """Numbers, a category and a text column; `value` depends on the numbers and the colour, `kind`
    on the words of the note, so each head needs its own input."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=n), rng.normal(size=n)
    color = rng.integers(0, 3, n)
    kind = rng.integers(0, 3, n)
    words = (("sunny", "warm"), ("rainy", "wet"), ("snowy", "cold"))
    value = 3 * a - 2 * b + 2.0 * (color == 0)
    lines = ["a,b,color,note,value,kind"]
    for i in range(n):
        note = f"{words[kind[i]][i % 2]} day {rng.choice(['today', 'again', 'here'])}"
        lines.append(f"{a[i]:.4f},{b[i]:.4f},{COLORS[color[i]]},{note},{value[i]:.4f},k{kind[i]}")
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


GRAPH = """
data:
  source: mixed.csv
  inputs:
    nums: {columns: [a, b]}
    color: {type: category}
    note: {type: text}
  targets:
    value: {column: value}
    kind: {task: classification}
layers:
  nums: [Normalization, {Dense: {units: 16, activation: relu}}]
  note:
    - TextVectorization: {max_tokens: 50, output_sequence_length: 3}
    - Embedding: {input_dim: 50, output_dim: 8}
    - GlobalAveragePooling1D
  trunk: {from: [nums, color, note], layers: [{Dense: {units: 32, activation: relu}}]}
  value: {from: trunk, layers: [{Dense: 1}]}
  kind: {from: trunk, layers: [{Dense: {units: 3, activation: softmax}}]}
loss_weights: {value: 1.0, kind: 2.0}
optimizer: {name: adam, learning_rate: 0.01}
epochs: 40
"""


def test_two_inputs_of_different_types_and_two_outputs_of_different_tasks(cli, tmp_path: Path) -> None:
    source = mixed_csv(tmp_path)
    r = cli("train", write_config(tmp_path / "g.yaml", GRAPH), "--json")
    assert r.exit_code == 0, r.stderr
    run = Path(json.loads(r.last_line)["run_dir"])
    meta = json.loads((run / "metrics.json").read_text())
    # Keras' multi-output names, each output with its task's default metrics.
    assert {"value_mae", "kind_accuracy", "value_loss", "kind_loss"} <= set(meta["test"]) <= set(meta["val"]) | {"loss"}
    config = (run / "config.yaml").read_text()
    assert "task: regression" in config and "task: classification" in config  # each target's task, inferred or given
    assert meta["dataset"]["class_names"]["kind"] == ["k0", "k1", "k2"]
    # Both heads learn from their own input: far past the mean (MAE ~2.9) and the majority (~0.36).
    assert meta["test"]["value_mae"] < 0.8 and meta["test"]["kind_accuracy"] > 0.9

    evaluation = json.loads((run / "evaluation.json").read_text())
    assert np.asarray(evaluation["outputs"]["kind"]["confusion_matrix"]).sum() == meta["dataset"]["sizes"]["test"]
    assert {"confusion_matrix_kind.png", "predictions_value.png"} <= {p.name for p in (run / "plots").iterdir()}

    out = cli("predict", run, source)
    assert out.exit_code == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert list(rows[0]) == ["id", "value", "kind", "kind_p_k0", "kind_p_k1", "kind_p_k2"] and len(rows) == 360
    truth = list(csv.DictReader(io.StringIO(source.read_text())))
    assert np.mean([p["kind"] == t["kind"] for p, t in zip(rows, truth, strict=True)]) > 0.9
    summary = cli("summary", run)
    assert "Connected to" in summary.stdout and "concatenate" in summary.stdout


NUMERIC = """
data:
  source: two.npz
  inputs: {left: {}, right: {array: r}}
  targets: {total: {}, sign: {array: s, task: binary}}
layers:
  left: [{Dense: {units: 8, activation: relu}}]
  right: [{Dense: {units: 8, activation: relu}}]
  res: {from: [left, right], merge: Add, layers: [{Dense: {units: 8, activation: relu}}]}
  total: {from: res, layers: [{Dense: 1}]}
  sign: {from: res, layers: [{Dense: {units: 1, activation: sigmoid}}]}
optimizer: {name: adam, learning_rate: 0.02}
epochs: 30
"""


def two_npz(tmp_path: Path, n: int = 400) -> Path:
    rng = np.random.default_rng(5)
    left, r = rng.normal(size=(n, 3)).astype("float32"), rng.normal(size=(n, 2)).astype("float32")
    total = (left.sum(axis=1) + r.sum(axis=1)).astype("float32")
    arrays = {"left": left, "r": r, "total": total, "s": (left[:, 0] > r[:, 0]).astype("int64")}
    path = tmp_path / "two.npz"
    np.savez(path, **arrays, **{f"{k}_test": v[:60] for k, v in arrays.items()})
    return path


def test_a_residual_merge_of_npz_arrays_and_exports_of_two_inputs_and_two_outputs(cli, tmp_path: Path) -> None:
    two_npz(tmp_path)
    r = cli("train", write_config(tmp_path / "n.yaml", NUMERIC), "--json")
    assert r.exit_code == 0, r.stderr
    run = Path(json.loads(r.last_line)["run_dir"])
    meta = json.loads((run / "metrics.json").read_text())
    assert meta["dataset"]["sizes"]["test"] == 60  # the npz's own `<array>_test` split
    assert meta["test"]["total_mae"] < 0.5 and meta["test"]["sign_accuracy"] > 0.85
    model_summary = (run / "summary.txt").read_text()
    assert "Add" in model_summary
    for fmt in ("keras", "saved_model", "tflite", "onnx"):
        e = cli("export", run, "--format", fmt, "--json")
        assert e.exit_code == 0, (fmt, e.stderr)
        exported = json.loads(e.last_line)
        assert set(exported["max_abs_diff_per_output"]) == {"total", "sign"} and exported["max_abs_diff"] <= 1e-4
    # --set reaches into a branch: twice the units, more parameters.
    wider = cli("summary", tmp_path / "n.yaml", "--set", "layers.res.layers.0.Dense.units=16")
    assert wider.exit_code == 0, wider.stderr
    assert f"{meta['params']['total']:,}" not in wider.stdout


def test_image_paths_and_numbers(cli, tmp_path: Path) -> None:
    """An image column (paths relative to the CSV) beside a number; the class needs both."""
    rng = np.random.default_rng(9)
    (tmp_path / "img").mkdir()
    lines = ["image,shift,label"]
    for i in range(160):
        bright = i % 2
        pixels = (rng.integers(0, 60, (8, 8)) + 180 * bright).astype("uint8")
        Image.fromarray(pixels, mode="L").save(tmp_path / "img" / f"{i}.png")
        shift = int(rng.integers(0, 2))
        lines.append(f"img/{i}.png,{shift},{'yes' if bright ^ shift else 'no'}")
    (tmp_path / "pics.csv").write_text("\n".join(lines) + "\n")
    cfg = write_config(tmp_path / "p.yaml", """
data:
  source: pics.csv
  inputs: {image: {type: image, color_mode: grayscale}, shift: {}}
  targets: {label: {}}
layers:
  image: [{Conv2D: {filters: 4, kernel_size: 3, activation: relu}}, GlobalAveragePooling2D]
  label:
    from: [image, shift]
    layers: [{Dense: {units: 16, activation: relu}}, {Dense: {units: 2, activation: softmax}}]
optimizer: {name: adam, learning_rate: 0.02}
epochs: 40
""")
    r = cli("train", cfg, "--json")
    assert r.exit_code == 0, r.stderr
    meta = json.loads((Path(json.loads(r.last_line)["run_dir"]) / "metrics.json").read_text())
    assert meta["dataset"]["input_shape"] == {"image": [8, 8, 1], "shift": [1]}
    assert meta["test"]["accuracy"] > 0.9  # Keras names one output's metrics plainly; either input alone: a coin toss

    (tmp_path / "img" / "7.png").unlink()
    missing = cli("train", cfg)
    assert missing.exit_code == 2
    assert "data.inputs.image: row 8 ('img/7.png'): image not found" in missing.stderr


BAD = [
    ("layers.trunk.from=[nums, colour]", "layers.trunk.from: unknown branch or input 'colour' (did you mean 'color'?)"),
    ("layers.trunk.from=[nums, color, note, kind]", "layers.trunk.from: a cycle: trunk -> kind -> trunk"),
    ("layers.trunk.from=[nums, color]", "layers.note: the branch 'note' reaches no output"),
    ("data.inputs.extra={column: a}", "data.inputs.extra: the input 'extra' is not used"),
    ("data.targets.other={column: b}", "layers: the target 'other' has no branch"),
    ("layers.oops=[Dense]", "layers.oops: a list of layers starts from the input of the same name"),
    ("loss.kinds=mse", "loss.kinds: 'kinds' is not an output (did you mean 'kind'?); outputs: value, kind"),
    ("metrics.valu=[mae]", "metrics.valu: 'valu' is not an output"),
    ("layers.trunk.merge=Add", "layers.trunk.merge: Add cannot merge nums [16], color [4], note [8]"),
    ("layers.kind.layers.0.Dense.units=2", "layers.kind.layers.0.Dense: output kind: the data has 3 classes"),
    ("loss.kind=binary_crossentropy", "loss.kind: output kind: binary_crossentropy on a 3-class task"),
    ("data.targets.kind.task=regression", "data.targets.kind.task: task regression needs numbers"),
    ("data.inputs.note.column=notes", "data.inputs.note: "),
    ("layers.trunk.layerz=1", "layers.trunk.layerz: unknown key (did you mean 'layers'?); allowed: from, merge, "
                              "layers"),
]


@pytest.mark.parametrize(("override", "message"), BAD, ids=[b[0] for b in BAD])
def test_every_mistake_in_a_graph_is_one_line_with_its_key_path(cli, tmp_path: Path, override: str,
                                                                message: str) -> None:
    mixed_csv(tmp_path, n=60)
    r = cli("train", write_config(tmp_path / "g.yaml", GRAPH), "--set", override)
    assert r.exit_code == 2, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and message in errors[0], r.stderr
    assert run_dirs(tmp_path) == []


def test_init_offers_a_graph_starter_for_a_csv_of_mixed_columns(cli, tmp_path: Path) -> None:
    mixed_csv(tmp_path, n=80)
    (tmp_path / "mixed.csv").write_text("\n".join(",".join(line.split(",")[:4] + line.split(",")[5:])
                                                  for line in (tmp_path / "mixed.csv").read_text().splitlines()) + "\n")
    r = cli("init", tmp_path / "start.yaml", "--data", "mixed.csv")
    assert r.exit_code == 0, r.stderr
    text = (tmp_path / "start.yaml").read_text()
    assert "the graph form" in text and "type: text" in text and "type: category" in text
    checked = cli("validate", tmp_path / "start.yaml")
    assert checked.exit_code == 0, checked.stderr
    assert "outputs kind (classification)" in checked.stdout
