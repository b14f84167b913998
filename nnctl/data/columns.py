"""Named inputs and targets (the graph form's `data.inputs` / `data.targets`) from a CSV's columns
or an .npz's arrays: `x` and `y` become mappings of name -> array.

`inputs_from_table` is what `nnctl predict` applies to new rows too, so both read the same
values for the same rows: numbers as float32, categories and text as strings (their lookups and
vectorizers are inside the model), image paths as images scaled to [0, 1].
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.config import DataSpec
from nnctl.config.graph import InputSpec, TargetSpec
from nnctl.data import profile
from nnctl.data.profile import MISSING
from nnctl.data.splits import Loaded, Split, encode_labels, encode_with, integer_classes, scale
from nnctl.errors import UserError, did_you_mean


def load(path: Path, spec: DataSpec, key: str) -> Loaded:
    if path.suffix.lower() == ".npz":
        return _npz(path, spec, key)
    from nnctl.data import frames, tables

    if not frames.is_table(path):
        raise UserError(f"{path}: named inputs and targets read a table's columns or an .npz's arrays", key)
    warnings: list[str] = []
    df = frames.read(path, key, spec, warnings)
    targets = [c for name, t in (spec.targets or {}).items() for c in _columns(t, name)]
    _need(df, targets, path, "data.targets")
    df, dropped = tables.without_missing_targets(df, targets, path.name, warnings)
    x = inputs_from_table(df, spec, path)
    y, outputs = {}, {}
    for name, target in (spec.targets or {}).items():
        y[name], outputs[name] = _target(df, name, target, path)
    return Loaded(x=x, y=y, name=path.stem, source=str(path), outputs=outputs, warnings=warnings, dropped=dropped)


def inputs_from_table(df: Any, spec: DataSpec, path: Path) -> dict[str, np.ndarray]:
    """Each named input as the model takes it, from a DataFrame of the CSV's rows."""
    return {name: _input(df, name, inp, path) for name, inp in (spec.inputs or {}).items()}


def _columns(entry: InputSpec | TargetSpec, name: str) -> list[str]:
    return entry.columns or [entry.column or name]


def _need(df: Any, columns: list[str], path: Path, key: str) -> None:
    have = list(df.columns)
    for c in columns:
        if c not in have:
            raise UserError(f"{path} has no column {c!r}{did_you_mean(c, have)}; columns: {', '.join(have)}", key)


def _input(df: Any, name: str, inp: InputSpec, path: Path) -> np.ndarray:
    key = f"data.inputs.{name}"
    if inp.array is not None:
        raise UserError("array names an .npz array; a CSV source takes column or columns", f"{key}.array")
    cols = _columns(inp, name)
    _need(df, cols, path, key)
    if inp.type in ("category", "text"):  # (N, 1) strings for StringLookup / TextVectorization
        gap = MISSING if inp.type == "category" else ""
        return df[cols].astype(object).where(df[cols].notna(), gap).astype(str).to_numpy(dtype=str)
    if inp.type == "image":
        gaps = df[cols[0]].isna()
        if gaps.any():
            raise UserError(f"row {int(gaps.to_numpy().argmax()) + 1} has no image path in column {cols[0]!r}", key)
        return images([str(v) for v in df[cols[0]]], path.parent, inp, key)
    # Gaps stay NaN: the model fills them with a training-split statistic (model.tabular).
    return np.stack([profile.need_numbers(df[c], c, key).to_numpy(dtype="float32") for c in cols], axis=1)


def images(paths: list[str], root: Path, inp: InputSpec, key: str) -> np.ndarray:
    """Image files (paths relative to the CSV) as float32 arrays in [0, 1], resized bilinearly to
    image_size where given; every image the same size otherwise."""
    from PIL import Image, UnidentifiedImageError

    mode = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}[inp.color_mode]
    out = []
    size = tuple(inp.image_size) if inp.image_size else None
    for row, p in enumerate(paths):
        f = Path(p) if Path(p).is_absolute() else root / p
        where = f"row {row + 1} ({p!r})"
        if not f.is_file():
            raise UserError(f"{where}: image not found at {f}", key)
        try:
            with Image.open(f) as im:
                im = im.convert(mode)
                if size is None:
                    size = (im.height, im.width)
                if (im.height, im.width) != size:
                    if inp.image_size is None:
                        raise UserError(f"{where} is {im.height}x{im.width}, the first image {size[0]}x{size[1]}; "
                                        "set image_size: [HEIGHT, WIDTH] to resize them", key)
                    im = im.resize((size[1], size[0]), Image.BILINEAR)
                a = np.asarray(im, dtype="uint8")
        except (UnidentifiedImageError, OSError):
            raise UserError(f"{where}: not a readable image", key) from None
        out.append(a[..., None] if a.ndim == 2 else a)
    return scale(np.stack(out)) if out else np.zeros((0, 1, 1, 1), "float32")


def _target(df: Any, name: str, target: TargetSpec, path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    key = f"data.targets.{name}"
    if target.array is not None:
        raise UserError("array names an .npz array; a CSV source takes column or columns", f"{key}.array")
    cols = _columns(target, name)
    _need(df, cols, path, key)
    if len(cols) > 1:
        y = df[cols].to_numpy(dtype="float32")
        return y, {"class_names": cols if np.isin(y, (0.0, 1.0)).all() else None,
                   "regression": target.task == "regression"}
    col = df[cols[0]]
    if col.dtype.kind in "biuf" and target.task in (None, "regression"):
        whole = col.dtype.kind in "biu" or bool(np.all(np.mod(col, 1) == 0))
        if not whole or target.task == "regression" or (target.task is None and profile.target_rule(col, len(col))):
            return col.to_numpy(dtype="float32"), {"class_names": None, "regression": True}
        y, names = integer_classes(col.to_numpy())
        return y, {"class_names": names, "regression": False}
    if target.task == "regression":
        raise UserError(f"task regression needs numbers; column {cols[0]!r} holds text such as "
                        f"{str(col.iloc[0])!r}", f"{key}.task")
    y, names = encode_labels(col.astype(str).to_numpy())  # classes by name, sorted: 1, 2, 3 or usa, ...
    return y, {"class_names": names, "regression": False}


def _npz(path: Path, spec: DataSpec, key: str) -> Loaded:
    """Each input and target is the array of its name (or `array:`); `<array>_test` for a test split."""
    try:
        with np.load(path, allow_pickle=False) as z:
            have = set(z.files)
            entries = [("inputs", n, e) for n, e in (spec.inputs or {}).items()]
            entries += [("targets", n, e) for n, e in (spec.targets or {}).items()]
            arrays, tests = {}, {}
            for group, name, e in entries:
                if e.column is not None or e.columns is not None:
                    raise UserError("an .npz source gives arrays by name: use array, not column(s)",
                                    f"data.{group}.{name}")
                a = e.array or name
                if a not in have:
                    raise UserError(f"{path} has no array {a!r}{did_you_mean(a, sorted(have))}; arrays: "
                                    f"{', '.join(sorted(have))}", f"data.{group}.{name}")
                arrays[name] = z[a]
                if f"{a}_test" in have:
                    tests[name] = z[f"{a}_test"]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(f"{path}: not a readable .npz file ({e})", key) from None
    lengths = {n: len(a) for n, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise UserError(f"{path}: the arrays have different numbers of examples: "
                        f"{', '.join(f'{n} {k}' for n, k in lengths.items())}", "data")
    x, y, outputs = {}, {}, {}
    for group, name, e in entries:
        if group == "inputs":
            x[name] = scale(arrays[name], f"data.inputs.{name}") if e.type != "text" else arrays[name].astype(str)
            continue
        y[name], names = encode_labels(arrays[name]) if arrays[name].ndim == 1 else (arrays[name], None)
        outputs[name] = {"class_names": names, "regression": e.task == "regression" or
                         (arrays[name].dtype.kind == "f" and e.task is None)}
    test = None
    if tests and len(tests) == len(entries):
        tx = {n: scale(tests[n]) if tests[n].dtype.kind not in "OUS" else tests[n] for n in x}
        test = Split(tx, {n: encode_with(tests[n], outputs[n]["class_names"], f"data.targets.{n}")
                          if tests[n].ndim == 1 else tests[n] for n in y})
    return Loaded(x=x, y=y, test=test, name=path.stem, source=str(path), outputs=outputs)
