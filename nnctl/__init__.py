"""nnctl: a YAML experiment config in, a trained Keras model out.

The Python API (nnctl.api) is imported on first use, so that `import nnctl` and `nnctl --help`
stay cheap: `nnctl.train`, `nnctl.Run`, `nnctl.validate`, `nnctl.sweep`.
"""

from typing import Any

from nnctl.errors import Interrupted, NnctlError, TrainingFailed, UserError

__version__ = "0.1.0"
__all__ = ["Interrupted", "NnctlError", "Run", "TrainingFailed", "UserError", "sweep", "train", "validate"]

_API = ("Run", "train", "validate", "sweep", "Sweep", "Checked")


def __getattr__(name: str) -> Any:
    if name in _API:
        from nnctl import api

        return getattr(api, name)
    raise AttributeError(f"module 'nnctl' has no attribute {name!r}")
