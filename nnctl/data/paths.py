"""Finding the files a config names."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from ..errors import UserError

BUILTIN_NAMES = ("mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing",
                 "california_housing", "digits", "iris", "wine", "breast_cancer", "diabetes")


def resolve_path(value: str, key: str, config_dir: Path | None, must_exist: bool = True) -> Path:
    """A path as given (relative to the working directory), else beside the config."""
    p = Path(os.path.expanduser(value))
    if not p.exists() and config_dir is not None and not p.is_absolute() and (config_dir / p).exists():
        p = config_dir / p
    if must_exist and not p.exists():
        hit = difflib.get_close_matches(value.lower(), BUILTIN_NAMES, n=1, cutoff=0.7)
        dym = f" (did you mean the built-in '{hit[0]}'?)" if hit else ""
        raise UserError(f"file not found: {value}{dym}; built-ins: {', '.join(BUILTIN_NAMES)}", key)
    return p
