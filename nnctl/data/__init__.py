"""Data sources: a name or a path in, seeded train/validation/test splits out.

Which loader runs is decided by what `data.source` is: a built-in name
(builtin.py), an array or image file/folder (files.py), or a CSV (tables.py).
Every loader returns a `Loaded`; this module splits it and checks it.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..config import Config, DataSpec
from ..errors import UserError
from .paths import resolve_path
from .stream import CsvRows, NpyRows

X = Union[np.ndarray, dict[str, np.ndarray]]


def take(x: X, idx: Any) -> X:
    if isinstance(x, dict):
        return {k: v[idx] for k, v in x.items()}
    return x[idx]


@dataclass
class Split:
    x: X
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx: Any) -> Split:
        return Split(take(self.x, idx), self.y[idx])

    @property
    def streamed(self) -> bool:
        return isinstance(self.x, (NpyRows, CsvRows))

    def fingerprint(self) -> str:
        """A short hash of the examples, so two runs can prove they saw the same split."""
        cached = getattr(self, "_fingerprint", None)
        if cached is None or cached[0] is not self.x:
            cached = (self.x, self._hash())
            self._fingerprint = cached
        return cached[1]

    def _hash(self) -> str:
        h = hashlib.sha256()
        if self.streamed:  # never read a streamed file just to hash it
            h.update(self.x.identity().encode())
            h.update(np.ascontiguousarray(self.y).tobytes())
            return h.hexdigest()[:16]
        parts = [self.x[k] for k in sorted(self.x)] if isinstance(self.x, dict) else [self.x]
        for a in [*parts, self.y]:
            a = np.asarray(a)
            h.update(str((a.dtype, a.shape)).encode())
            if a.dtype.kind in "OUS":
                h.update("\0".join(map(str, a.ravel())).encode())
            else:
                h.update(np.ascontiguousarray(a).data)  # the buffer itself: no copy, and the GIL is let go
        return h.hexdigest()[:16]


@dataclass
class Loaded:
    """What a loader found: inputs, labels, and what it knows about them."""

    x: X
    y: np.ndarray
    name: str
    source: str
    test: Split | None = None  # the source's own test split, where it has one
    class_names: list[str] | None = None
    regression: bool = False
    chronological: bool = False  # time series: split in order, never shuffled
    input_dtype: str = "float32"  # "string" for raw text
    categorical: dict[str, list[str]] = field(default_factory=dict)  # CSV column -> vocabulary
    warnings: list[str] = field(default_factory=list)
    fallback: str | None = None


@dataclass
class Data:
    train: Split
    val: Split | None
    test: Split
    name: str
    source: str
    class_names: list[str] | None = None
    regression: bool = False
    input_dtype: str = "float32"
    categorical: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    fallback: str | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        if isinstance(self.train.x, dict):
            return (len(self.train.x),)
        return tuple(self.train.x.shape[1:])

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val) if self.val else 0, "test": len(self.test)}

    def hash_soon(self) -> None:
        """Start hashing the splits on another thread (hashlib lets the GIL go), for `info` to use.

        Call it once the inputs have their final shape: the shape is part of the hash.
        """
        def quietly() -> None:
            with contextlib.suppress(Exception):  # `info` hashes again on its own thread and reports it
                self._fingerprints()

        self._hashing = threading.Thread(target=quietly, name="nnctl-hash", daemon=True)
        self._hashing.start()

    def _fingerprints(self) -> dict[str, str]:
        splits = {"train": self.train, "val": self.val, "test": self.test}
        return {k: s.fingerprint() for k, s in splits.items() if s is not None}

    def info(self) -> dict[str, Any]:
        """What metrics.json records about the data."""
        hashing = getattr(self, "_hashing", None)
        if hashing is not None:
            hashing.join()
        return {
            "name": self.name,
            "source": self.source,
            "fallback": self.fallback,
            "sizes": self.sizes(),
            "fingerprints": self._fingerprints(),
            "input_shape": list(self.input_shape),
            "class_names": self.class_names,
            "streamed": self.train.streamed,
        }


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
    from . import builtin, files  # imported on this thread, before the other one starts

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
        loaded.y, loaded.regression, loaded.class_names = loaded.x, True, None
        if loaded.test is not None:
            loaded.test = Split(loaded.test.x, loaded.test.x)
    whole = Split(loaded.x, loaded.y)
    if len(whole) == 0:
        raise UserError(f"{loaded.source}: no examples", "data.source")
    stratify = not loaded.regression
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
    if spec.validation is not None:
        val = _side_file(spec, "validation", config_dir, loaded)
    elif spec.validation_split > 0:
        whole, val = split(whole, spec.validation_split, cfg.seed + 1, stratify, loaded.chronological)
    if spec.fraction < 1:  # a quick run end to end: a seeded, stratified share of every split
        whole, val, test = (_share(s, spec.fraction, cfg.seed + 2, stratify, loaded.chronological) if s else s
                            for s in (whole, val, test))
    data = Data(train=whole, val=val, test=test, name=loaded.name, source=loaded.source,
                class_names=loaded.class_names, regression=loaded.regression,
                input_dtype=loaded.input_dtype, categorical=loaded.categorical,
                warnings=loaded.warnings, fallback=loaded.fallback)
    for name, s in (("validation", val), ("test", test)):
        if s is not None and not isinstance(s.x, dict) and tuple(s.x.shape[1:]) != tuple(data.train.x.shape[1:]):
            raise UserError(f"{name} inputs have shape {list(s.x.shape[1:])} but training inputs "
                            f"{list(data.train.x.shape[1:])}", f"data.{name}")
    return data


def load_source(spec: DataSpec, config_dir: Path | None, key: str = "data.source") -> Loaded:
    from . import builtin, files, tables

    source = spec.source if key == "data.source" else getattr(spec, key.split(".")[1])
    if key == "data.source" and source in builtin.BUILTINS:
        return builtin.load(source, spec, config_dir)
    path = resolve_path(source, key, config_dir)
    if path.suffix.lower() in (".csv", ".tsv") or path.name.lower().endswith((".csv.gz", ".tsv.gz")):
        return tables.load(path, spec, key)
    return files.load(path, spec, key, config_dir)


def _side_file(spec: DataSpec, which: str, config_dir: Path | None, main: Loaded) -> Split:
    """A separate validation/test file, read the way the main source was."""
    side = load_source(spec, config_dir, key=f"data.{which}")
    if side.test is not None and which == "test":
        return side.test
    if not side.class_names or side.y.ndim != 1:
        return Split(side.x, side.y)
    # Class labels: map the file's class names onto the training split's indices.
    return Split(side.x, encode_with(np.asarray(side.class_names)[side.y], main.class_names, f"data.{which}"))


def split(whole: Split, fraction: float, seed: int, stratify: bool, chronological: bool) -> tuple[Split, Split]:
    """Hold out `fraction` of the examples: seeded and stratified, or the last ones in time order."""
    n = len(whole)
    n_hold = int(round(n * fraction))
    if n_hold < 1 or n_hold >= n:
        raise UserError(f"a split of {fraction} of {n} examples leaves one side empty", "data")
    if chronological or whole.streamed:
        # Time series must not leak the future; streamed files split into row ranges, never copied.
        return whole.take(slice(0, n - n_hold)), whole.take(slice(n - n_hold, n))
    from sklearn.model_selection import train_test_split

    y = whole.y
    strat = y if stratify and _stratifiable(y, n_hold) else None
    keep, hold = train_test_split(np.arange(n), test_size=n_hold, random_state=seed, stratify=strat)
    return whole.take(np.sort(keep)), whole.take(np.sort(hold))


def _share(whole: Split, fraction: float, seed: int, stratify: bool, chronological: bool) -> Split:
    if round(len(whole) * fraction) >= len(whole):
        return whole
    if round(len(whole) * fraction) < 1:
        raise UserError(f"bad value {fraction}: it leaves no example of a split of {len(whole)}", "data.fraction")
    return split(whole, fraction, seed, stratify, chronological)[1]


def _stratifiable(y: np.ndarray, n_hold: int) -> bool:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        return False
    _, counts = np.unique(y, return_counts=True)
    return counts.min() >= 2 and n_hold >= len(counts) and len(y) - n_hold >= len(counts)


def absolute_paths(spec: DataSpec, config_dir: Path | None) -> DataSpec:
    """The same spec with file paths made absolute (built-in names stay names)."""
    from .builtin import BUILTINS

    update = {}
    for key in ("source", "validation", "test", "labels", "path"):
        value = getattr(spec, key)
        if value is not None and not (key == "source" and value in BUILTINS):
            update[key] = str(resolve_path(value, f"data.{key}", config_dir, must_exist=key != "path").resolve())
    return spec.model_copy(update=update)


def scale(x: np.ndarray, key: str = "data.source") -> np.ndarray:
    """8-bit images to float32 in [0, 1]; other numbers to float32 as they are."""
    if x.dtype == np.uint8:
        out = x.astype("float32")
        out /= 255.0  # in place: one float copy of the images, not two
        return out
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise UserError(f"inputs must be numeric, got dtype {x.dtype}", key)
    return x.astype("float32", copy=False)


def encode_labels(y: np.ndarray) -> tuple[np.ndarray, list[str] | None]:
    """String (or other non-numeric) class labels -> integers 0..n-1 and the sorted class names."""
    y = np.asarray(y)
    if y.dtype.kind in "OUSb" and y.ndim == 1:
        names, codes = np.unique(y.astype(str), return_inverse=True)
        return codes.astype("int64"), [str(n) for n in names]
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    return y, None


def encode_with(y: np.ndarray, names: list[str] | None, key: str) -> np.ndarray:
    """Labels of another split, encoded with the training split's class names."""
    if not names:
        return encode_labels(y)[0]
    index = {c: i for i, c in enumerate(names)}
    values = np.asarray(y).astype(str).ravel()
    unknown = sorted(set(values) - set(index))
    if unknown:
        raise UserError(f"labels {', '.join(unknown[:5])} are not among the training classes "
                        f"({', '.join(map(str, names))})", key)
    return np.asarray([index[v] for v in values], dtype="int64")


def should_stream(path: Path, spec: DataSpec) -> bool:
    """stream: true/false as set; auto streams files larger than stream_threshold_mb."""
    if spec.stream == "auto":
        return path.stat().st_size > spec.stream_threshold_mb * 2**20
    return bool(spec.stream)
