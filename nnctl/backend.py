"""The one place TensorFlow/Keras is imported, lazily and quietly.

TensorFlow prints CUDA-stub, oneDNN and absl lines from C++ straight to file
descriptor 2 while it imports and starts; environment variables do not silence all
of it (tensorflow issue 100442), so descriptor 2 is pointed at /dev/null meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

VERBOSE = False  # set by the CLI's --verbose

_IMPORTED: list[Any] = []
_THREADED: list[int] = []  # the pid that applied NNCTL_THREADS: the warm server's children apply their own
_STARTED: list[bool] = []
_PRELOADED: list[bool] = []  # imported by the warm server, which never starts the runtime
_PRELOADING = False  # the warm server importing nnctl's modules: a module-level keras() starts nothing yet
_LOCK = threading.Lock()  # data may load on another thread meanwhile, and some loaders need Keras


def keras(start: bool = True, threads: bool = True) -> Any:
    """Import and return the keras module (TensorFlow backend); thread-safe.

    threads=False (the warm server's preload) leaves NNCTL_THREADS to each command's process.
    start=False leaves TensorFlow's runtime uninitialised: distribution strategies and
    logical devices must be set up before its first op (see distribute.py).
    """
    if not _IMPORTED:
        with _LOCK:  # a second caller waits for the first import instead of seeing half-imported modules
            if not _IMPORTED:
                done = "keras" in sys.modules and "tensorflow" in sys.modules  # imported before nnctl asked
                _IMPORTED.append(sys.modules["keras"] if done else _import())
    # thread pools are fixed at the first op; the warm server leaves NNCTL_THREADS to each command's process
    if threads and not _PRELOADING and not _STARTED and os.getpid() not in _THREADED:
        with _LOCK:
            if not _STARTED and os.getpid() not in _THREADED:
                import tensorflow as tf

                _threads(tf)
                _THREADED.append(os.getpid())
    if start and not _STARTED and not _PRELOADING:
        with _LOCK, quiet():
            if not _STARTED:
                import tensorflow as tf

                tf.constant(0.0) + 1.0  # loads the lazily loaded C++ modules, finds devices
                _STARTED.append(True)
    return _IMPORTED[0]


@contextlib.contextmanager
def preloading() -> Iterator[None]:
    """Import TensorFlow and Keras, and within the block whatever else, without starting TensorFlow's
    runtime: the warm server, before it forks (a fork must not inherit the runtime's threads)."""
    global _PRELOADING
    keras(start=False, threads=False)
    _PRELOADED.append(True)
    _PRELOADING = True
    try:
        yield
    finally:
        _PRELOADING = False


def runtime_started() -> bool:
    """Whether TensorFlow's runtime may have started in this process (it fixes thread pools and devices)."""
    return bool(_STARTED) or ("tensorflow" in sys.modules and not _PRELOADED)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Descriptor 2 to /dev/null (unless --verbose) while TensorFlow's C++ may print."""
    if VERBOSE:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _import() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if not VERBOSE:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet(), _hidden(*HIDDEN):
        import keras as k
        import tensorflow as tf

        if not VERBOSE:
            tf.get_logger().setLevel("ERROR")
    return k


# Packages Keras imports only for what nnctl never hands it: scikit-learn (and SciPy with it)
# for its scikit-learn wrappers, pandas for DataFrame inputs (nnctl passes arrays and tf.data),
# matplotlib for its image-gallery plot. Hidden while Keras imports, they cost nothing then;
# nnctl's own CSV reading, splits, reports and plots import them as usual when they run.
HIDDEN = ("sklearn", "pandas", "matplotlib")


@contextlib.contextmanager
def _hidden(*names: str) -> Iterator[None]:
    """Import with `names` looking absent (those not imported yet). No other thread imports
    meanwhile (see data.load_soon), so none can see the gap."""
    absent = [n for n in names if n not in sys.modules]
    for name in absent:
        sys.modules[name] = None  # type: ignore[assignment]  (None makes `import name` raise ImportError)
    try:
        yield
    finally:
        for name in absent:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def _threads(tf: Any) -> None:
    """NNCTL_THREADS (set by `nnctl sweep --parallel`): this process's share of the cores.

    Must run before TensorFlow's first op, which fixes its thread pools for the process.
    """
    n = int(os.environ.get("NNCTL_THREADS") or 0)
    if n > 0:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(min(n, 2))


def as_written(fn: Any) -> Any:
    """`fn` for tf.data to trace as it is: these functions have no Python control flow for autograph
    to rewrite, and autograph's rewrite (parsing their source) cost 0.3-0.4 s of every command."""
    import tensorflow as tf

    return tf.autograph.experimental.do_not_convert(fn)
