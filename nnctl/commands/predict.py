"""Predictions for new inputs from a finished run, with the run's own preprocessing.

The inputs go through what training applied outside the model (8-bit images to [0, 1],
the CSV's feature columns, time-series windows, image resizing); everything else
(normalisation, text vectorisation, one-hot lookups) is inside the saved model.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.config import Config
from nnctl.data import pipeline, scale
from nnctl.data.files import IMAGE_SUFFIXES, read_idx
from nnctl.errors import UserError, one_line
from nnctl.model import saved
from nnctl.run import folder as runs

ARRAY_KEYS = ("x_test", "x", "x_train", "inputs")


def predict_run(run: Path, source: Path) -> str:
    """CSV text: one row per input with the prediction (class names and probabilities, or values)."""
    cfg = runs.read_config(run)
    meta = runs.read_metrics(run)
    model = saved.run_model(run)
    ids, x = read_inputs(source, cfg, model)
    out = pipeline.predict(model, x, cfg.batch_size).reshape(len(ids), -1)
    return _table(ids, out, cfg, (meta.get("dataset") or {}).get("class_names"))


def read_inputs(source: Path, cfg: Config, model: Any) -> tuple[list[str], Any]:
    if not source.exists():
        raise UserError(f"input not found: {source}", "INPUT")
    if source.is_dir():
        ids, x = _images(source, model)
    elif source.suffix == ".csv":
        ids, x = _csv(source, cfg)
    elif source.suffix == ".npz":
        with np.load(source, allow_pickle=False) as z:
            key = next((k for k in ARRAY_KEYS if k in z.files), z.files[0] if len(z.files) == 1 else None)
            if key is None:
                raise UserError(f"{source}: no array named {', '.join(ARRAY_KEYS)} in it "
                                f"(it has {', '.join(z.files) or 'none'})", "INPUT")
            x = scale(z[key], "INPUT")
        ids = [str(i) for i in range(len(x))]
    elif source.suffix == ".npy":
        x = scale(np.load(source, allow_pickle=False), "INPUT")
        ids = [str(i) for i in range(len(x))]
    else:
        try:
            x = scale(read_idx(source), "INPUT")
        except UserError:
            raise UserError(f"{source}: use a .npz, .npy, .csv, IDX file or a folder of images", "INPUT") from None
        ids = [str(i) for i in range(len(x))]
    return ids, _fit(x, model)


def _fit(x: Any, model: Any) -> Any:
    """Regroup flat inputs to the model's input shape (784 -> 28x28x1), as training did."""
    if isinstance(x, dict):
        return x
    want = tuple(model.input_shape[1:])
    if x.shape[1:] == want or None in want:
        return x
    if math.prod(x.shape[1:]) != math.prod(want):
        raise UserError(f"the inputs have shape {list(x.shape[1:])}; this model takes {list(want)}", "INPUT")
    return x.reshape((len(x), *want))


def _csv(path: Path, cfg: Config) -> tuple[list[str], Any]:
    import pandas as pd

    spec = cfg.data
    try:
        df = pd.read_csv(path)
    except (ValueError, OSError) as e:
        raise UserError(f"{path}: not a readable CSV ({one_line(e, 200)})", "INPUT") from None
    targets = [spec.target] if isinstance(spec.target, str) else list(spec.target or [])
    if spec.text is not None:
        _need([spec.text], df, path)
        return [str(i) for i in range(len(df))], df[spec.text].fillna("").astype(str).to_numpy(dtype=str).reshape(-1, 1)
    if spec.sequence_length is not None:  # one prediction per window, labelled by its last row
        features = spec.features or [c for c in df.columns if df[c].dtype.kind in "biuf"]  # as in training
        _need(features, df, path)
        values = df[features].to_numpy(dtype="float32")
        n = len(values) - spec.sequence_length + 1
        if n < 1:
            raise UserError(f"{path}: {len(values)} rows make no window of {spec.sequence_length}", "INPUT")
        windows = np.lib.stride_tricks.sliding_window_view(values, (spec.sequence_length, values.shape[1]))[:n, 0]
        return [str(i + spec.sequence_length - 1) for i in range(n)], np.ascontiguousarray(windows)
    features = spec.features or [c for c in df.columns if c not in targets]
    _need(features, df, path)
    numeric = [c for c in features if df[c].dtype.kind in "biuf"]
    ids = [str(i) for i in range(len(df))]
    if len(numeric) == len(features):
        return ids, df[features].to_numpy(dtype="float32")
    return ids, {c: (df[c].to_numpy(dtype="float32") if c in numeric else df[c].fillna("").astype(str)
                     .to_numpy(dtype=str)).reshape(-1, 1) for c in features}


def _need(columns: list[str], df: Any, path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserError(f"{path}: the run was trained on columns that this file lacks: {', '.join(missing)}", "INPUT")


def _images(folder: Path, model: Any) -> tuple[list[str], np.ndarray]:
    """Images in the folder or its sub-folders, decoded and resized as image_dataset_from_directory does."""
    import tensorflow as tf

    files = sorted(f for f in folder.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in it", "INPUT")
    height, width, channels = model.input_shape[1:4] if len(model.input_shape) == 4 else (None, None, None)
    if height is None:
        raise UserError(f"this model takes inputs of shape {list(model.input_shape[1:])}, not images", "INPUT")
    xs = []
    for f in files:
        try:
            img = tf.io.decode_image(tf.io.read_file(str(f)), channels=channels, expand_animations=False)
        except tf.errors.InvalidArgumentError:
            raise UserError(f"{f}: not a readable image", "INPUT") from None
        xs.append(tf.image.resize(img, (height, width)).numpy())
    return [str(f.relative_to(folder)) for f in files], np.stack(xs).astype("float32") / 255.0


def _table(ids: list[str], out: np.ndarray, cfg: Config, class_names: list[str] | None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    task = cfg.task
    names = class_names or [str(i) for i in range(out.shape[1])]
    if task == "classification":
        w.writerow(["id", "predicted", "probability", *(f"p_{n}" for n in names)])
        for i, row in zip(ids, out, strict=True):
            k = int(row.argmax())
            w.writerow([i, names[k] if k < len(names) else k, _f(row[k]), *map(_f, row)])
    elif task == "binary":
        labels = class_names if class_names and len(class_names) == 2 else ["0", "1"]
        w.writerow(["id", "predicted", f"p_{labels[1]}"])
        for i, row in zip(ids, out, strict=True):
            w.writerow([i, labels[int(row[0] >= 0.5)], _f(row[0])])
    elif task == "multilabel":
        w.writerow(["id", "predicted", *(f"p_{n}" for n in names)])
        for i, row in zip(ids, out, strict=True):
            w.writerow([i, "|".join(n for n, p in zip(names, row, strict=False) if p >= 0.5), *map(_f, row)])
    else:
        targets = [cfg.data.target] if isinstance(cfg.data.target, str) else list(cfg.data.target or [])
        cols = targets if len(targets) == out.shape[1] else [f"prediction_{j}" for j in range(out.shape[1])]
        if out.shape[1] == 1 and not targets:
            cols = ["prediction"]
        w.writerow(["id", *cols])
        for i, row in zip(ids, out, strict=True):
            w.writerow([i, *map(_f, row)])
    return buf.getvalue()


def _f(v: float) -> str:
    return f"{float(v):.6g}"
