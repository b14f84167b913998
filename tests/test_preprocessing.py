"""Predict reads new rows through the transforms training applied: for the same rows, the inputs
`nnctl predict` hands the model are the inputs training gave it (before splitting), to the bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnctl.config import load_config
from nnctl.data import inputs, load_source
from nnctl.errors import UserError


def spec(tmp_path: Path, data: str):  # noqa: ANN201  (a DataSpec)
    path = tmp_path / "c.yaml"
    path.write_text(f"data: {data}\nlayers: [{{Dense: 1}}]\n")
    return load_config(path).data


def same(a: object, b: object) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for k in a:
            same(a[k], b[k])
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b)


def test_csv_numeric_category_and_text_columns(tmp_path: Path) -> None:
    rows = [(i * 0.5, "red" if i % 3 else "", f"word{i % 4} and more", i % 2) for i in range(30)]
    csv = tmp_path / "t.csv"
    csv.write_text("size,colour,note,y\n" + "".join(f"{a},{b},{c},{d}\n" for a, b, c, d in rows))
    mixed = spec(tmp_path, "{source: t.csv, target: y, features: [size, colour]}")
    trained = load_source(mixed, tmp_path).x
    assert set(trained) == {"size", "colour"} and trained["colour"].dtype.kind == "U"  # mixed: named inputs
    ids, x = inputs.read(csv, mixed, (2,))
    same(trained, x)
    assert ids == [str(i) for i in range(30)]
    # a file to predict need not have the target column
    csv.with_name("new.csv").write_text("size,colour\n" + "".join(f"{a},{b}\n" for a, b, _, _ in rows))
    same(trained, inputs.read(csv.with_name("new.csv"), mixed, (2,))[1])

    text = spec(tmp_path, "{source: t.csv, target: y, text: note}")
    same(load_source(text, tmp_path).x, inputs.read(csv, text, (1,))[1])

    numeric = spec(tmp_path, "{source: t.csv, target: y, features: [size]}")
    trained = load_source(numeric, tmp_path).x
    assert trained.dtype == np.float32 and trained.shape == (30, 1)
    same(trained, inputs.read(csv, numeric, (1,))[1])


def test_time_series_windows(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text("t,a,b\n" + "".join(f"{i},{np.sin(i / 5):.4f},{i % 7}\n" for i in range(40)))
    series = spec(tmp_path, "{source: s.csv, target: a, features: [a, b], sequence_length: 6, horizon: 2}")
    trained = load_source(series, tmp_path).x
    ids, x = inputs.read(csv, series, (6, 2))
    assert trained.shape == (40 - 6 - 2 + 1, 6, 2) and x.shape == (40 - 6 + 1, 6, 2)
    same(trained, x[:len(trained)])  # predict also makes the windows whose target lies past the file's end
    assert ids[0] == "5" and ids[-1] == "39"  # each window is labelled by its last row


def test_image_folders_are_decoded_and_resized_alike(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(3)
    for cls in ("cat", "dog"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, size=(10 + i, 12, 3), dtype=np.uint8)  # sizes differ: resized
            Image.fromarray(pixels).save(tmp_path / "imgs" / cls / f"{i}.png")
    images = spec(tmp_path, "{source: imgs, image_size: [8, 8]}")
    trained = load_source(images, tmp_path)
    ids, x = inputs.read(tmp_path / "imgs", images, (8, 8, 3))
    assert ids == [f"{c}/{i}.png" for c in ("cat", "dog") for i in range(3)]
    same(trained.x, x)
    assert trained.x.dtype == np.float32 and 0 <= trained.x.min() and trained.x.max() <= 1
    (tmp_path / "imgs" / "cat" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="bad.png: not a readable image"):
        inputs.read(tmp_path / "imgs", images, (8, 8, 3))


def test_arrays_are_scaled_and_regrouped_as_in_training(tmp_path: Path) -> None:
    x = np.random.default_rng(0).integers(0, 256, size=(5, 784), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", x_train=x, y_train=np.arange(5))
    arrays = spec(tmp_path, "{source: a.npz}")
    trained = load_source(arrays, tmp_path).x
    _, got = inputs.read(tmp_path / "a.npz", arrays, (28, 28, 1))
    same(trained.reshape(5, 28, 28, 1), got)  # 8-bit to [0, 1] by one scale, 784 -> 28x28x1 as load
