"""Data sources: a name or a path in, seeded train/validation/test splits out.

Which loader runs is decided by what `data.source` is: a built-in name
(builtin.py), an array or image file/folder (files.py), or a CSV (tables.py).
Every loader returns a `Loaded`; this module splits it and checks it.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.config import Config, DataSpec
from nnctl.data.holdout import share, split
from nnctl.data.paths import resolve_path
from nnctl.data.splits import Data, Loaded, Split, encode_labels, encode_with, scale, should_stream, take
from nnctl.data.stream import CsvRows, NpyRows
from nnctl.errors import UserError

__all__ = ["Data", "Loaded", "Split", "encode_labels", "encode_with", "scale", "should_stream", "take",
           "load", "load_soon", "load_source", "split", "absolute_paths", "resolved"]

def load_soon(cfg: Config, config_dir: Path | None = None) -> Callable[[], Data]:
    """`load`, begun now on another thread where that is safe; call the result for the Data.

    Meant to overlap TensorFlow's import (seconds of work holding the GIL): decompressing,
    casting and hashing arrays let the GIL go, so they run on the other core meanwhile.
    Only array files (IDX, .npz, .npy) are read early: their loaders import nothing new,
    so the two threads never import modules at the same time. The rest loads on the call.
    """
    if not _arrays_only(cfg.data, config_dir):
        return lambda: load(cfg, config_dir)
    box: dict[str, Any] = {}

    def read() -> None:
        try:
            box["loaded"] = load_source(cfg.data, config_dir)
        except BaseException as e:  # noqa: BLE001  (re-raised on the caller's thread)
            box["error"] = e

    worker = threading.Thread(target=read, name="nnctl-data", daemon=True)
    worker.start()

    def result() -> Data:
        worker.join()
        if "error" in box:
            raise box["error"]
        return load(cfg, config_dir, loaded=box["loaded"])

    return result


def _arrays_only(spec: DataSpec, config_dir: Path | None) -> bool:
    from nnctl.data import builtin, files  # imported on this thread, before the other one starts

    try:
        if spec.source in builtin.BUILTINS:
            return spec.source == "fashion_mnist" and builtin.fashion_folder(spec, config_dir) is not None
        path = resolve_path(spec.source, "data.source", config_dir)
        return files.kind(path) in ("npz", "npy", "npy_folder", "idx_folder", "idx")
    except (UserError, OSError):
        return False  # loading on the caller's thread reports it


def load(cfg: Config, config_dir: Path | None = None, loaded: Loaded | None = None) -> Data:
    """Load cfg.data (or take `loaded`, read already) and split it: test (unless the source has
    its own), then validation."""
    spec = cfg.data
    if loaded is None:
        loaded = load_source(spec, config_dir)
    if spec.reconstruct:
        if isinstance(loaded.x, (dict, NpyRows, CsvRows)) or loaded.input_dtype != "float32":
            raise UserError("reconstruct needs numeric arrays in memory (not text, CSV columns or streamed "
                            "files)", "data.reconstruct")
        test = Split(loaded.test.x, loaded.test.x) if loaded.test is not None else None
        loaded = dataclasses.replace(loaded, y=loaded.x, regression=True, class_names=None, test=test)
    if spec.output_steps is not None and not (spec.sequence_length and loaded.chronological):
        raise UserError("output_steps forecasts a time series: it needs a CSV source with target and "
                        "sequence_length (the windows it predicts from)", "data.output_steps")
    whole = Split(loaded.x, loaded.y)
    if len(whole) == 0:
        raise UserError(f"{loaded.source}: no examples", "data.source")
    stratify = not loaded.regression
    if loaded.outputs is not None:  # the graph form: stratified on the first classifier's labels
        stratify = any(not o["regression"] for o in loaded.outputs.values())
    if spec.test is not None:
        test = _side_file(spec, "test", config_dir, loaded)
    elif loaded.test is not None:
        test = loaded.test
    else:
        if spec.test_split <= 0:
            raise UserError(f"{spec.source!r} has no test split of its own; set test_split > 0 "
                            "or test: PATH", "data.test_split")
        whole, test = split(whole, spec.test_split, cfg.seed, stratify, loaded.chronological)
    val = None
    if spec.folds is not None:  # cross-validation: this run's fold of the training data validates it
        from nnctl.data.folds import fold

        whole, val = fold(whole, spec.folds, spec.fold or 1, cfg.seed + 1, stratify, loaded.chronological)
    elif spec.validation is not None:
        val = _side_file(spec, "validation", config_dir, loaded)
    elif spec.validation_split > 0:
        whole, val = split(whole, spec.validation_split, cfg.seed + 1, stratify, loaded.chronological)
    if spec.fraction < 1:  # a quick run end to end: a seeded, stratified share of every split
        whole, val, test = (share(s, spec.fraction, cfg.seed + 2, stratify, loaded.chronological) if s else s
                            for s in (whole, val, test))
    data = Data(train=whole, val=val, test=test, name=loaded.name, source=loaded.source,
                class_names=loaded.class_names, regression=loaded.regression,
                input_dtype=loaded.input_dtype, categorical=loaded.categorical,
                warnings=loaded.warnings, fallback=loaded.fallback, outputs=loaded.outputs,
                table=loaded.table, dropped=loaded.dropped, quantity=loaded.quantity)
    for name, s in (("validation", val), ("test", test)):
        if s is not None and not isinstance(s.x, dict) and tuple(s.x.shape[1:]) != tuple(data.train.x.shape[1:]):
            raise UserError(f"{name} inputs have shape {list(s.x.shape[1:])} but training inputs "
                            f"{list(data.train.x.shape[1:])}", f"data.{name}")
    return _in_shape(cfg, data)


def load_source(spec: DataSpec, config_dir: Path | None, key: str = "data.source") -> Loaded:
    from nnctl.data import builtin, columns, files, frames, tables

    source = spec.source if key == "data.source" else getattr(spec, key.split(".")[1])
    if spec.targets is not None:  # the graph form: named inputs and targets
        return columns.load(resolve_path(source, key, config_dir), spec, key)
    if key == "data.source" and source in builtin.BUILTINS:
        return builtin.load(source, spec, config_dir)
    path = resolve_path(source, key, config_dir)
    if frames.is_table(path):
        return tables.load(path, spec, key)
    return files.load(path, spec, key, config_dir)


def _side_file(spec: DataSpec, which: str, config_dir: Path | None, main: Loaded) -> Split:
    """A separate validation/test file, read the way the main source was."""
    side = load_source(spec, config_dir, key=f"data.{which}")
    if side.test is not None and which == "test":
        return side.test
    if side.outputs is not None:  # each classifier's labels onto the training split's class indices
        names = {n: (side.outputs[n]["class_names"], main.outputs[n]["class_names"]) for n in side.y}
        return Split(side.x, {n: _onto(np.asarray(names[n][0])[y], names[n][1], f"data.{which}")
                              if names[n][0] else y for n, y in side.y.items()})
    if not side.class_names or side.y.ndim != 1:
        return Split(side.x, side.y)
    # Class labels: map the file's class names onto the training split's indices.
    return Split(side.x, _onto(np.asarray(side.class_names)[side.y], main.class_names, f"data.{which}"))


def _onto(labels: np.ndarray, names: list[str] | None, key: str) -> np.ndarray:
    """A side file's labels as the training split's class indices; where the training labels are
    0..K-1 themselves (no names), the file's whole numbers are those indices."""
    if not names:
        try:
            return labels.astype("int64")
        except ValueError:
            pass
    return encode_with(labels, names, key)


def absolute_paths(spec: DataSpec, config_dir: Path | None) -> DataSpec:
    """The same spec with file paths made absolute (built-in names stay names)."""
    from nnctl.data.builtin import BUILTINS

    update = {}
    for key in ("source", "validation", "test", "labels", "path"):
        value = getattr(spec, key)
        if value is not None and not (key == "source" and value in BUILTINS):
            update[key] = str(resolve_path(value, f"data.{key}", config_dir, must_exist=key != "path").resolve())
    return spec.model_copy(update=update)


def resolved(spec: DataSpec, config_dir: Path | None, data: Data) -> DataSpec:
    """The spec a run records: absolute paths, and a table's feature columns with their types, so
    that evaluate, predict and a resume read the same columns the same way."""
    spec = absolute_paths(spec, config_dir)
    if data.table is None:
        return spec
    from nnctl.config.graph import InputSpec

    types = data.table.types
    return spec.model_copy(update={"features": list(data.table.features),
                                   "inputs": {c: InputSpec(type=types[c]) for c in data.table.features}})


def _in_shape(cfg: Config, data: Data) -> Data:
    """The data in the config's input_shape where it only regroups the same values (784 <-> 28x28x1)."""
    shape = data.input_shape
    if cfg.input_shape is None or data.categorical or data.outputs or tuple(cfg.input_shape) == shape:
        return data
    want = tuple(cfg.input_shape)
    if math.prod(want) != math.prod(shape):
        raise UserError(f"bad value {list(want)}: the data's examples have shape {list(shape)}",
                        "input_shape")
    regrouped = {k: Split(s.x.reshape((len(s.x), *want)), s.y) if s is not None else None  # views, streamed too
                 for k, s in (("train", data.train), ("val", data.val), ("test", data.test))}
    return dataclasses.replace(data, **regrouped)
