"""Array and image files: .npz, .npy pairs (memory-mapped when large), IDX files, image folders."""

from __future__ import annotations

import gzip
import io
import math
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.config import DataSpec
from nnctl.data.paths import resolve_path
from nnctl.data.splits import Loaded, Split, encode_labels, encode_with, scale, should_stream
from nnctl.data.stream import NpyRows
from nnctl.errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


def kind(path: Path) -> str | None:
    """Which loader reads `path`: npz, npy, npy_folder, idx_folder, image_folder, idx, or None."""
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy"):
        return suffix[1:]
    if path.is_dir():
        if (path / "x_train.npy").exists():
            return "npy_folder"
        if any(path.glob("train-images*")):
            return "idx_folder"
        if any(p.is_dir() for p in path.iterdir()):
            return "image_folder"
        return None
    return "idx" if _is_idx(path) else None


def load(path: Path, spec: DataSpec, key: str, config_dir: Path | None) -> Loaded:
    found = kind(path)
    if found == "npz":
        return _npz(path, key)
    if found == "npy":
        return _npy_pair(path, spec, key, config_dir)
    if found == "npy_folder":
        return _npy_folder(path, spec, key)
    if found == "idx_folder":
        return load_idx_folder(path, key)
    if found == "image_folder":
        return _image_folder(path, spec, key)
    if path.is_dir():
        raise UserError(f"{path}: a folder must hold class sub-folders of images, x_train.npy/y_train.npy, "
                        "or MNIST-format IDX files (train-images-*, train-labels-*)", key)
    if found == "idx":
        if not spec.labels:
            raise UserError(f"{path} is an IDX file of inputs: set data.labels to its labels file", key)
        labels = resolve_path(spec.labels, "data.labels", config_dir)
        x, y = read_idx(path), read_idx(labels)
        _same_length(path, len(x), labels, len(y))
        return Loaded(x=_images(x), y=y.astype("int64"), name=path.stem, source=str(path))
    raise UserError(f"unsupported data file {path.name}: use .npz, .npy, .csv, an IDX file, "
                    "or a folder of images in class sub-folders", key)


# ---------------------------------------------------------------- numpy


class _Npz:
    """An .npz file whose arrays are each read in one call. NumPy's NpzFile reads 256 KB at a time,
    taking the GIL back for each, and starved beside a thread importing TensorFlow (data.load_soon):
    a 188 MB array took 10.7 s instead of 0.46 s."""

    def __init__(self, path: Path) -> None:
        self._zip = zipfile.ZipFile(path)
        self.files = [n.removesuffix(".npy") for n in self._zip.namelist()]

    def __getitem__(self, name: str) -> np.ndarray:
        member = name if name in self._zip.namelist() else f"{name}.npy"
        fp = io.BytesIO(self._zip.read(member))
        version = np.lib.format.read_magic(fp)
        header = {(1, 0): np.lib.format.read_array_header_1_0,
                  (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if header is None:  # a newer format: NumPy's own (chunked) reader
            fp.seek(0)
            return np.lib.format.read_array(fp, allow_pickle=False)
        shape, fortran, dtype = header(fp)
        if dtype.hasobject:
            raise ValueError(f"{name}: object arrays are not loaded (they would need pickle)")
        flat = np.frombuffer(fp.getbuffer(), dtype=dtype, count=math.prod(shape), offset=fp.tell())
        return flat.reshape(shape, order="F" if fortran else "C").copy()  # writable, as np.load's

    def __enter__(self) -> _Npz:
        return self

    def __exit__(self, *exc: object) -> None:
        self._zip.close()


def _npz(path: Path, key: str) -> Loaded:
    try:  # an unreadable file or array is the user's input; UserErrors (missing arrays) pass through
        with _Npz(path) as z:
            x, y = _pick(z, path, key, ("x_train", "y_train"), ("x", "y"), ("x_test", "y_test"))
            y, names = encode_labels(y)
            test = None
            if {"x_test", "y_test"} <= set(z.files) and "x_train" in z.files:
                test = Split(scale(z["x_test"], key), encode_with(z["y_test"], names, key))
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise UserError(f"{path}: not a readable .npz file ({e})", key) from None
    return Loaded(x=scale(x, key), y=y, test=test, name=path.stem, source=str(path), class_names=names)


def _pick(z: Any, path: Path, key: str, *pairs: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    for xk, yk in pairs:
        if xk in z.files and yk in z.files:
            x, y = z[xk], z[yk]
            _same_length(xk, len(x), yk, len(y), path)
            return x, y
    wanted = " or ".join(f"{a}/{b}" for a, b in pairs)
    raise UserError(f"{path}: needs arrays {wanted}; found {', '.join(sorted(z.files)) or 'none'}", key)


def _same_length(a: Any, na: int, b: Any, nb: int, where: Any = None) -> None:
    if na != nb:
        prefix = f"{where}: " if where else ""
        raise UserError(f"{prefix}{a} has {na} rows but {b} has {nb}", "data")



def _read_npy(path: Path, spec: DataSpec, key: str, labels: bool = False) -> Any:
    """An in-memory array, or (inputs of a large file, or stream: true) rows read on demand."""
    try:
        if not labels and should_stream(path, spec):
            return NpyRows.open(path)
        return np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise UserError(f"{path}: not a readable .npy file ({e})", key) from None


def _inputs(x: Any, key: str) -> Any:
    """In-memory arrays are scaled now; streamed ones block by block in the input pipeline."""
    return x if isinstance(x, NpyRows) else scale(x, key)


def _npy_pair(path: Path, spec: DataSpec, key: str, config_dir: Path | None) -> Loaded:
    if not spec.labels:
        sibling = path.with_name(path.name.replace("x_", "y_", 1)) if path.name.startswith("x_") else None
        if sibling is None or not sibling.exists():
            raise UserError(f"{path} holds the inputs: set data.labels to the labels .npy", "data.labels")
        labels = sibling
    else:
        labels = resolve_path(spec.labels, "data.labels", config_dir)
    x, y = _read_npy(path, spec, key), _read_npy(labels, spec, "data.labels", labels=True)
    _same_length(path.name, len(x), labels.name, len(y))
    y, names = encode_labels(y)
    return Loaded(x=_inputs(x, key), y=y, name=path.stem, source=str(path), class_names=names)


def _npy_folder(folder: Path, spec: DataSpec, key: str) -> Loaded:
    x, y = _read_npy(folder / "x_train.npy", spec, key), _read_npy(folder / "y_train.npy", spec, key, labels=True)
    _same_length("x_train.npy", len(x), "y_train.npy", len(y), folder)
    y, names = encode_labels(y)
    test = None
    if (folder / "x_test.npy").exists():
        tx = _read_npy(folder / "x_test.npy", spec, key)
        ty = _read_npy(folder / "y_test.npy", spec, key, labels=True)
        _same_length("x_test.npy", len(tx), "y_test.npy", len(ty), folder)
        test = Split(_inputs(tx, key), encode_with(np.asarray(ty), names, key))
    return Loaded(x=_inputs(x, key), y=y, test=test, name=folder.name, source=str(folder), class_names=names)


# ---------------------------------------------------------------- IDX (MNIST format)

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _open(path: Path) -> Any:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _is_idx(path: Path) -> bool:
    try:
        with _open(path) as f:
            head = f.read(4)
    except OSError:
        return False
    return len(head) == 4 and head[:2] == b"\0\0" and head[2] in _IDX_TYPES and 1 <= head[3] <= 4


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (plain or gzipped): magic (0, 0, type, ndim), big-endian int32 dims, data."""
    try:
        # One decompress call, not GzipFile's chunked reads: those take the GIL back every few KB
        # and crawled (0.24 s became 21 s) beside a thread importing TensorFlow (data.load_soon).
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(f"{path}: cannot read ({e})", "data.source") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_TYPES:
        raise UserError(f"{path}: not an IDX file (bad magic number)", "data.source")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4)
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    count = int(np.prod(dims))
    if len(raw) - 4 - 4 * ndim < count * dtype.itemsize:
        raise UserError(f"{path}: truncated IDX file (expected {count} values of shape {dims.tolist()})",
                        "data.source")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=4 + 4 * ndim)
    return data.reshape(tuple(int(d) for d in dims)).astype(dtype.newbyteorder("="))


def _images(x: np.ndarray) -> np.ndarray:
    x = scale(x)
    return x[..., None] if x.ndim == 3 else x


def load_idx_folder(folder: Path, key: str) -> Loaded:
    def one(*patterns: str) -> Path | None:
        for pattern in patterns:
            hits = sorted(folder.glob(pattern))
            if hits:
                return hits[0]
        return None

    xi, yi = one("train-images*"), one("train-labels*")
    if xi is None or yi is None:
        raise UserError(f"{folder}: needs train-images-* and train-labels-* IDX files", key)
    x, y = read_idx(xi), read_idx(yi)
    _same_length(xi.name, len(x), yi.name, len(y))
    test = None
    txi, tyi = one("t10k-images*", "test-images*"), one("t10k-labels*", "test-labels*")
    if txi is not None and tyi is not None:
        tx, ty = read_idx(txi), read_idx(tyi)
        _same_length(txi.name, len(tx), tyi.name, len(ty))
        test = Split(_images(tx), ty.astype("int64"))
    return Loaded(x=_images(x), y=y.astype("int64"), test=test, name=folder.name, source=str(folder),
                  class_names=[str(i) for i in range(int(y.max()) + 1)])


# ---------------------------------------------------------------- image folders


def _image_folder(folder: Path, spec: DataSpec, key: str) -> Loaded:
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    files = [f for c in classes for f in sorted(c.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise UserError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in its class sub-folders",
                        key)
    sizes = image_sizes(files, key)
    if spec.image_size is None:
        if len(sizes) > 1:
            (a, fa), (b, fb) = list(sizes.items())[:2]
            raise UserError(f"{folder}: images of different sizes ({fa.name} is {a[0]}x{a[1]}, {fb.name} is "
                            f"{b[0]}x{b[1]}); set data.image_size: [HEIGHT, WIDTH] to resize them", key)
        (w, h), = sizes
        size = (h, w)
    else:
        size = tuple(spec.image_size)
    x, y, class_names, _ = image_arrays(folder, size, spec.color_mode, labels=True)
    return Loaded(x=x, y=y, name=folder.name, source=str(folder), class_names=class_names)


def image_sizes(files: list[Path], key: str) -> dict[tuple[int, int], Path]:
    """Each (width, height) among the files, with the first file of that size; a file that is
    not an image is named."""
    from PIL import Image, UnidentifiedImageError

    sizes: dict[tuple[int, int], Path] = {}
    for f in files:
        try:
            with Image.open(f) as im:
                sizes.setdefault(im.size, f)
        except (UnidentifiedImageError, OSError):
            raise UserError(f"{f}: not a readable image", key) from None
    return sizes


def decode_image(data: bytes, size: tuple[int, int], color_mode: str, key: str) -> np.ndarray:
    """One encoded image (PNG, JPEG, BMP, GIF) as `image_arrays` reads a file: decoded by
    TensorFlow as Keras' loader decodes it, resized bilinearly to `size`, scaled to [0, 1]."""
    import tensorflow as tf

    from nnctl.backend import keras

    keras()
    channels = {"grayscale": 1, "rgb": 3, "rgba": 4}[color_mode]
    try:
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    except (tf.errors.InvalidArgumentError, ValueError):
        raise UserError("not a readable image (PNG, JPEG, BMP or GIF)", key) from None
    image = tf.image.resize(image, size, method="bilinear")
    return image.numpy().astype("float32") / 255.0


def image_arrays(folder: Path, size: tuple[int, ...], color_mode: str,
                 labels: bool) -> tuple[np.ndarray, np.ndarray | None, list[str] | None, list[str]]:
    """The folder's images as training reads them and predict reads new ones: Keras'
    image_dataset_from_directory (decoded, resized bilinearly to `size`), scaled to [0, 1].

    With `labels`, one class per sub-folder: (images, class indices, class names, files);
    without, every image in the folder and below, in file order: (images, None, None, files).
    """
    from nnctl.backend import keras

    ds = keras().utils.image_dataset_from_directory(
        folder, labels="inferred" if labels else None, label_mode="int", image_size=tuple(size),
        color_mode=color_mode, batch_size=256, shuffle=False, verbose=False)
    files = list(ds.file_paths)
    if labels:
        xs, ys = zip(*((bx.numpy(), by.numpy()) for bx, by in ds), strict=True)
        return (np.concatenate(xs).astype("float32") / 255.0, np.concatenate(ys).astype("int64"),
                list(ds.class_names), files)
    x = np.concatenate([bx.numpy() for bx in ds]).astype("float32") / 255.0
    return x, None, None, files
