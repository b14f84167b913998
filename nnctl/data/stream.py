"""Rows of large files read on demand: .npy blocks with pread, CSV rows through tf.data.

A memory map would do the reading too, but every page it touches stays in the
process's resident set, so peak memory would grow with the file. Reading a
block at a time with os.pread keeps it flat.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nnctl import backend


class RowRange:
    """Rows start..stop of a file, sliceable like an array along axis 0 (contiguous slices only)."""

    start: int
    stop: int
    row_shape: tuple[int, ...]

    def _range(self, start: int, stop: int) -> Any:
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.row_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.row_shape)

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, idx: Any) -> Any:
        if not isinstance(idx, slice) or idx.step not in (None, 1):
            raise TypeError("streamed rows take contiguous slices only")
        a, b, _ = idx.indices(len(self))
        return self._range(self.start + a, self.start + max(a, b))


class NpyRows(RowRange):
    """A row range of a C-ordered .npy file."""

    def __init__(self, path: Path, offset: int, dtype: np.dtype, shape: tuple[int, ...],
                 start: int = 0, stop: int | None = None) -> None:
        self.path, self.offset, self.dtype = Path(path), offset, np.dtype(dtype)
        self.row_shape = tuple(shape[1:])
        self.total = shape[0]
        self.start, self.stop = start, shape[0] if stop is None else stop
        self.row_bytes = int(np.prod(self.row_shape, dtype="int64")) * self.dtype.itemsize

    @classmethod
    def open(cls, path: Path) -> NpyRows:
        m = np.load(path, mmap_mode="r", allow_pickle=False)  # header only: no page is touched
        if not m.flags.c_contiguous or m.dtype.hasobject:
            raise ValueError("only C-ordered numeric arrays can be streamed")
        rows = cls(path, m.offset, m.dtype, m.shape)
        del m
        return rows

    def _range(self, start: int, stop: int) -> NpyRows:
        return NpyRows(self.path, self.offset, self.dtype, (self.total, *self.row_shape), start, stop)

    def reshape(self, shape: tuple[int, ...]) -> NpyRows:
        if int(np.prod(shape[1:])) * self.dtype.itemsize != self.row_bytes:
            raise ValueError(f"cannot reshape rows of {self.row_shape} into {shape[1:]}")
        return NpyRows(self.path, self.offset, self.dtype, (self.total, *shape[1:]), self.start, self.stop)

    def read(self, a: int, b: int) -> np.ndarray:
        """Rows a..b of this range, as a fresh array."""
        a, b = self.start + a, min(self.start + b, self.stop)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            raw = os.pread(fd, (b - a) * self.row_bytes, self.offset + a * self.row_bytes)
        finally:
            os.close(fd)
        return np.frombuffer(raw, dtype=self.dtype).reshape((b - a, *self.row_shape))

    def identity(self) -> str:
        st = self.path.stat()
        return f"{self.path.resolve()}:{st.st_size}:{st.st_mtime_ns}:{self.start}:{self.stop}:{self.row_shape}"


class CsvRows(RowRange):
    """A row range of the numeric feature columns of a CSV file, read by tf.data as it goes."""

    def __init__(self, path: Path, columns: list[str], features: list[str], start: int, stop: int,
                 sep: str = ",") -> None:
        self.path, self.columns, self.features, self.sep = Path(path), columns, features, sep
        self.start, self.stop, self.row_shape = start, stop, (len(features),)

    def _range(self, start: int, stop: int) -> CsvRows:
        return CsvRows(self.path, self.columns, self.features, start, stop, self.sep)

    def reshape(self, shape: tuple[int, ...]) -> CsvRows:
        if tuple(shape[1:]) != (len(self.features),):
            raise ValueError(f"CSV rows have {len(self.features)} features, not {shape[1:]}")
        return self

    def dataset(self) -> Any:
        """The feature vectors of rows start..stop, as an unbatched tf.data dataset."""
        import tensorflow as tf

        cols = [self.columns.index(c) for c in self.features]
        ds = tf.data.experimental.CsvDataset(
            str(self.path), record_defaults=[tf.float32] * len(cols), header=True, select_cols=cols,
            field_delim=self.sep, compression_type="GZIP" if self.path.suffix == ".gz" else "")
        ds = ds.skip(self.start).take(len(self)).map(backend.as_written(lambda *v: tf.stack(v)))
        return ds.apply(tf.data.experimental.assert_cardinality(len(self)))  # Keras then knows the epoch length

    def identity(self) -> str:
        st = self.path.stat()
        return f"{self.path.resolve()}:{st.st_size}:{st.st_mtime_ns}:{self.start}:{self.stop}:{self.features}"
