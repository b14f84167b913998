"""nnctl: a YAML experiment config in, a trained Keras model out.

The Python API (nnctl.api) is imported on first use, so that `import nnctl` and `nnctl --help`
stay cheap: `nnctl.train`, `nnctl.Run`, `nnctl.validate`, `nnctl.sweep`, `nnctl.runs`,
`nnctl.summary`, `nnctl.config_show`, `nnctl.init`... (`nnctl.api.report`: `nnctl.report` is a package).
"""

from typing import Any

from nnctl.errors import Interrupted, NnctlError, TrainingFailed, UserError
from nnctl.version import __version__

__all__ = ["Interrupted", "NnctlError", "Run", "TrainingFailed", "UserError", "__version__", "config_show", "convert",
           "datasets", "init", "parse_grid", "plot", "runs", "schema", "summary", "sweep", "train", "validate"]

_API = ("Run", "train", "validate", "sweep", "Sweep", "Checked", "summary", "runs", "Leaderboard", "plot",
        "parse_grid", "config_show", "ResolvedConfig", "init", "Starter", "convert", "schema", "datasets")


def __getattr__(name: str) -> Any:
    if name in _API:
        from nnctl import api

        return getattr(api, name)
    raise AttributeError(f"module 'nnctl' has no attribute {name!r}")
