"""Finding the files a config names."""

from __future__ import annotations

import os
from pathlib import Path

from nnctl.errors import UserError, did_you_mean

BUILTIN_NAMES = ("mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing",
                 "california_housing", "digits", "iris", "wine", "breast_cancer", "diabetes")


def resolve_path(value: str, key: str, config_dir: Path | None, must_exist: bool = True) -> Path:
    """A path as given (relative to the working directory), else beside the config."""
    p = Path(os.path.expanduser(value))
    if not p.exists() and config_dir is not None and not p.is_absolute() and (config_dir / p).exists():
        p = config_dir / p
    if must_exist and not p.exists():
        dym = did_you_mean(value, BUILTIN_NAMES, cutoff=0.7, what="the built-in ")
        raise UserError(f"file not found: {value}{dym}; built-ins: {', '.join(BUILTIN_NAMES)}", key)
    return p
