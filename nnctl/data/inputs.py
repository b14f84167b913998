"""New inputs for a trained model, read through the same transforms the loaders applied in
training: 8-bit images to [0, 1] (`scale`), an image folder through `files.image_arrays`, a
CSV's text, feature and window columns through `tables`. Everything else (normalisation, text
vectorisation, one-hot lookups) is inside the saved model.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.config import DataSpec
from nnctl.data import files, frames, tables
from nnctl.data.splits import scale
from nnctl.errors import UserError

ARRAY_KEYS = ("x_test", "x", "x_train", "inputs")
KEY = "INPUT"


@dataclass
class Rows:
    """A table's rows already in memory (stdin, a server's instances), read where a table file
    would be; `name` stands for the file in messages."""

    frame: Any  # a pandas DataFrame, missing values as NaN/None
    name: str = "rows"
    suffix = ""
    parent = Path(".")  # where image paths in a column start

    def __str__(self) -> str:
        return self.name


def read(source: Path | Rows, spec: DataSpec, input_shape: tuple[Any, ...],
         notes: list[str] | None = None) -> tuple[list[str], Any]:
    """(an id per example, the model's inputs): row numbers, window end rows or image file names.
    What was left out of a table (its target, extra columns) is said in `notes`."""
    notes = [] if notes is None else notes
    rows = isinstance(source, Rows)
    if not rows and not source.exists():
        raise UserError(f"input not found: {source}", KEY)
    if not rows and source.is_dir():
        return _images(source, spec, input_shape)
    if spec.inputs is not None and spec.targets is not None:
        return _named(source, spec, notes)
    if rows or frames.is_table(source):
        if not frames.is_table(Path(spec.source)) and spec.target is None:
            return _numbers(source, spec, input_shape, notes)
        ids, x = csv_inputs(source, spec, notes)
    elif source.suffix == ".npz":
        with np.load(source, allow_pickle=False) as z:
            key = next((k for k in ARRAY_KEYS if k in z.files), z.files[0] if len(z.files) == 1 else None)
            if key is None:
                raise UserError(f"{source}: no array named {', '.join(ARRAY_KEYS)} in it "
                                f"(it has {', '.join(z.files) or 'none'})", KEY)
            x = scale(z[key], KEY)
    elif source.suffix == ".npy":
        x = scale(np.load(source, allow_pickle=False), KEY)
    else:
        try:
            x = scale(files.read_idx(source), KEY)
        except UserError:
            raise UserError(f"{source}: use a .npz, .npy, table (.csv, .parquet, ...), IDX file or a folder of "
                            "images", KEY) from None
    if not (rows or frames.is_table(source)):
        ids = [str(i) for i in range(len(x))]
    return ids, regroup(x, input_shape)


def _table(source: Path | Rows, spec: DataSpec, notes: list[str] | None) -> Any:
    """The rows of a table file, or those given in memory."""
    return source.frame if isinstance(source, Rows) else frames.read(source, KEY, spec, notes)


def instances(values: list[Any], spec: DataSpec, input_shape: tuple[Any, ...],
              notes: list[str] | None = None) -> tuple[list[str], Any]:
    """JSON instances (a server's request) as the model's inputs, through the same reading as files:
    mappings of column to value are a table's rows (null: missing); `{"b64": ...}` an encoded image,
    decoded and resized as training read its images; nested lists the input values themselves."""
    if not isinstance(values, list) or not values:
        raise UserError("give a non-empty list of instances", "instances")
    if all(isinstance(v, dict) and set(v) == {"b64"} for v in values):
        return [str(i) for i in range(len(values))], _encoded_images(values, spec, input_shape)
    if all(isinstance(v, dict) for v in values):
        return read(Rows(frames.records(values, spec), "instances"), spec, input_shape, notes)
    if any(isinstance(v, dict) for v in values):
        i = next(i for i, v in enumerate(values) if isinstance(v, dict) != isinstance(values[0], dict))
        raise UserError("mix neither mappings and lists nor images and columns in one request",
                        f"instances[{i}]")
    try:
        x = np.asarray(values, dtype="float32")
    except (ValueError, TypeError):
        raise UserError("nested lists of numbers, all of one shape", "instances") from None
    if spec.inputs is not None and spec.targets is not None:
        raise UserError("this model takes named inputs: give each instance as a mapping of input to value",
                        "instances")
    return [str(i) for i in range(len(x))], regroup(x, input_shape)


def _encoded_images(values: list[dict[str, str]], spec: DataSpec, input_shape: tuple[Any, ...]) -> np.ndarray:
    if len(input_shape) != 3 or input_shape[0] is None:
        raise UserError(f"this model takes inputs of shape {list(input_shape)}, not images", "instances")
    height, width, channels = input_shape
    color_mode = {1: "grayscale", 3: "rgb", 4: "rgba"}.get(channels, spec.color_mode)
    out = []
    for i, v in enumerate(values):
        try:
            data = base64.b64decode(v["b64"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise UserError("b64 is not base64 text", f"instances[{i}].b64") from None
        out.append(files.decode_image(data, (height, width), color_mode, f"instances[{i}].b64"))
    return np.stack(out)


def _numbers(source: Path, spec: DataSpec, input_shape: tuple[Any, ...], notes: list[str]) -> tuple[list[str], Any]:
    """A table for a model trained from arrays: its numeric columns in order, when they are as many
    as the model takes."""
    df = _table(source, spec, None)
    numeric = [c for c in df.columns if df[c].dtype.kind in "biuf"]
    want = math.prod(d for d in input_shape if d is not None)
    if len(numeric) != want or None in input_shape:
        raise UserError(f"{source}: this model (trained from {spec.source}) takes {want} numbers per example; "
                        f"the file has {len(numeric)} numeric columns ({', '.join(numeric) or 'none'})", KEY)
    other = [c for c in df.columns if c not in numeric]
    if other:
        notes.append(f"{source.name}: ignored the columns that are not numbers: {', '.join(other)}")
    x = df[numeric].to_numpy(dtype="float32")
    if np.isnan(x).any():
        raise UserError(f"{source}: row {int(np.isnan(x).any(axis=1).argmax()) + 1} has a missing value; this "
                        f"model, trained from {spec.source}, has nothing to fill it with", KEY)
    return [str(i) for i in range(len(df))], regroup(x, input_shape)


def _named(source: Path, spec: DataSpec, notes: list[str]) -> tuple[list[str], dict[str, np.ndarray]]:
    """The graph form's named inputs: a CSV's columns or an .npz's arrays, as training read them."""
    from nnctl.data import columns

    if source.suffix == ".npz":
        with np.load(source, allow_pickle=False) as z:
            x = {}
            for name, inp in spec.inputs.items():
                a = next((k for k in (inp.array or name, f"{inp.array or name}_test") if k in z.files), None)
                if a is None:
                    raise UserError(f"{source}: no array {inp.array or name!r} for the input {name!r} "
                                    f"(it has {', '.join(z.files) or 'none'})", KEY)
                x[name] = z[a].astype(str) if inp.type == "text" else scale(z[a], KEY)
    else:
        df = _table(source, spec, notes)
        _need([c for inp in spec.inputs.values() for c in (inp.columns or [inp.column])
               if c is not None] or list(spec.inputs), df, source)
        x = columns.inputs_from_table(df, spec, source)
    lengths = {len(v) for v in x.values()}
    if len(lengths) > 1:
        raise UserError(f"{source}: the inputs have different numbers of examples", KEY)
    return [str(i) for i in range(lengths.pop())], x


def regroup(x: Any, input_shape: tuple[Any, ...]) -> Any:
    """Flat inputs in the model's input shape (784 -> 28x28x1), as training's `load` did."""
    if isinstance(x, dict):
        return x
    want = tuple(input_shape)
    if x.shape[1:] == want or None in want:
        return x
    if math.prod(x.shape[1:]) != math.prod(want):
        raise UserError(f"the inputs have shape {list(x.shape[1:])}; this model takes {list(want)}", KEY)
    return x.reshape((len(x), *want))


def csv_inputs(path: Path | Rows, spec: DataSpec, notes: list[str] | None = None) -> tuple[list[str], Any]:
    """A table's rows as the run's inputs: its text column, its windows (one per end row), or its
    feature columns, matched by name in any order; the target and other columns are ignored."""
    notes = [] if notes is None else notes
    df = _table(path, spec, notes)
    targets = [spec.target] if isinstance(spec.target, str) else list(spec.target or [])
    if spec.text is not None:
        _need([spec.text], df, path)
        return [str(i) for i in range(len(df))], tables.text_inputs(df, spec.text)
    if spec.sequence_length is not None:  # one prediction per window, labelled by its last row
        features = tables.window_features(df, spec)
        _need(features, df, path)
        values = df[features].to_numpy(dtype="float32")
        n = len(values) - spec.sequence_length + 1
        if n < 1:
            raise UserError(f"{path}: {len(values)} rows make no window of {spec.sequence_length}", KEY)
        return [str(i + spec.sequence_length - 1) for i in range(n)], tables.windows(values, spec.sequence_length, n)
    if spec.features is not None:
        _need(spec.features, df, path)
    table = tables.schema(df, spec, [t for t in targets if t in df.columns], path, KEY)
    _need(table.features, df, path)
    ignored = [c for c in df.columns if c not in table.features]
    if ignored:
        notes.append(f"{path.name}: ignored columns the model does not take: {', '.join(ignored)}")
    tables.rows_kept(df, table, spec, drop=False)
    return [str(i) for i in range(len(df))], tables.tabular_inputs(df, table, KEY, spec)


def _need(columns: list[str], df: Any, path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserError(f"{path}: the run was trained on columns that this file lacks: {', '.join(missing)}", KEY)


def _images(folder: Path, spec: DataSpec, input_shape: tuple[Any, ...]) -> tuple[list[str], np.ndarray]:
    """Every image in the folder or its sub-folders, sized as the model takes them."""
    found = sorted(f for f in folder.rglob("*") if f.suffix.lower() in files.IMAGE_SUFFIXES)
    if not found:
        raise UserError(f"{folder}: no images ({', '.join(sorted(files.IMAGE_SUFFIXES))}) in it", KEY)
    if len(input_shape) != 3 or input_shape[0] is None:
        raise UserError(f"this model takes inputs of shape {list(input_shape)}, not images", KEY)
    files.image_sizes(found, KEY)  # names a file that is not an image
    height, width, channels = input_shape
    color_mode = {1: "grayscale", 3: "rgb", 4: "rgba"}.get(channels, spec.color_mode)
    x, _, _, paths = files.image_arrays(folder, (height, width), color_mode, labels=False)
    return [str(Path(p).relative_to(folder)) for p in paths], x
