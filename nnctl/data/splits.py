"""What every loader returns and what training reads: splits of inputs and labels, and the
label encodings and scaling the loaders share (predict applies the same through `nnctl.data.inputs`)."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from nnctl.config import DataSpec
from nnctl.data.stream import CsvRows, NpyRows
from nnctl.errors import UserError

X = Union[np.ndarray, dict[str, np.ndarray]]


def take(x: X, idx: Any) -> X:
    if isinstance(x, dict):
        return {k: v[idx] for k, v in x.items()}
    return x[idx]


@dataclass
class Split:
    x: X
    y: X  # a mapping of output name -> labels in the graph form

    def __len__(self) -> int:
        return len(next(iter(self.y.values())) if isinstance(self.y, dict) else self.y)

    def take(self, idx: Any) -> Split:
        return Split(take(self.x, idx), take(self.y, idx))

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
        parts = [v[k] for v in (self.x, self.y) for k in sorted(v)] if isinstance(self.y, dict) else []
        parts = parts or ([self.x[k] for k in sorted(self.x)] if isinstance(self.x, dict) else [self.x]) + [self.y]
        for a in parts:
            a = np.asarray(a)
            h.update(str((a.dtype, a.shape)).encode())
            if a.dtype.kind in "OUS":
                h.update("\0".join(map(str, a.ravel())).encode())
            else:
                h.update(np.ascontiguousarray(a).data)  # the buffer itself: no copy, and the GIL is let go
        return h.hexdigest()[:16]


@dataclass
class Table:
    """A table's feature columns as the model takes them, and every column's profile (data.profile)."""

    features: list[str]  # in the model's order
    types: dict[str, str]  # column -> number | category | text
    columns: list[dict[str, Any]]  # each column's profile, the target's too
    rows: int

    def numbers(self) -> list[str]:
        return [c for c in self.features if self.types[c] == "number"]


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
    # The graph form: each output's {"class_names": [...] or None, "regression": bool}.
    outputs: dict[str, dict[str, Any]] | None = None
    table: Table | None = None  # a table file's columns (the stack form)
    dropped: dict[str, int] = field(default_factory=dict)  # rows left out, by reason
    quantity: bool = False  # whole-number labels the task rule read as regression (task: classification undoes it)


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
    outputs: dict[str, dict[str, Any]] | None = None  # the graph form's, as Loaded's
    table: Table | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    quantity: bool = False

    @property
    def input_shape(self) -> tuple[int, ...]:
        if isinstance(self.train.x, dict):
            return (len(self.train.x),)
        return tuple(self.train.x.shape[1:])

    @property
    def classes(self) -> list[str] | dict[str, list[str] | None] | None:
        """The class names, per output in the graph form."""
        return {k: v["class_names"] for k, v in self.outputs.items()} if self.outputs else self.class_names

    @property
    def input_shapes(self) -> dict[str, list[int]]:
        """Each named input's shape per example (the graph form)."""
        return {k: list(v.shape[1:]) for k, v in self.train.x.items()} if isinstance(self.train.x, dict) else {}

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

    def balance(self) -> dict[str, list[int]] | None:
        """Each split's examples per class, for one class label per example; None otherwise."""
        if self.regression or self.outputs:
            return None
        splits = {"train": self.train, "val": self.val, "test": self.test}
        ys = {k: np.asarray(s.y) for k, s in splits.items() if s is not None and len(s)}
        if not ys or any(y.ndim != 1 or y.dtype.kind not in "iub" or y.min() < 0 for y in ys.values()):
            return None
        n = max([len(self.class_names or []), *(int(y.max()) + 1 for y in ys.values())])
        return {k: np.bincount(y.astype(int), minlength=n).tolist() for k, y in ys.items()}

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
            "input_shape": self.input_shapes if self.outputs else list(self.input_shape),
            "class_names": self.classes,
            "streamed": self.train.streamed,
            **({"columns": self.table.columns} if self.table else {}),
            **({"balance": balance} if (balance := self.balance()) else {}),
            **({"dropped_rows": self.dropped} if self.dropped else {}),
        }


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


def integer_classes(y: np.ndarray) -> tuple[np.ndarray, list[str] | None]:
    """Whole-number class labels: as they are when they are 0..K-1, else the index of each among
    the sorted values, which name the classes (wine's 1, 2, 3; years 2007-2009: 3 classes, not 2010)."""
    y = np.asarray(y).astype("int64")
    values = np.unique(y)
    if values[0] == 0 and values[-1] == len(values) - 1:
        return y, None
    return np.searchsorted(values, y).astype("int64"), [str(v) for v in values]


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
