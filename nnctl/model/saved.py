"""The one loading path for saved models: run models, exports and checkpoints.

Every command that reads a `.keras` file comes through here, in any process: nnctl's own
Keras classes (Maxout, the applications' preprocessing, the rmse loss) are registered
first, Keras' safe mode stays on (a model file never runs code), and a file that is
missing, cut short or refused becomes one line naming it and the fix (exit 2).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from nnctl.errors import UserError, one_line

# What Keras' .keras archive always holds (keras/src/saving/saving_lib.py).
_MEMBERS = ("config.json", "model.weights.h5")


def damage(path: Path) -> str | None:
    """Why this .keras file is not a complete model archive, or None where it is.

    Reads every member and checks its CRC, so a file cut short or overwritten part-way
    is found before Keras meets it (Keras reports it as an internal BadZipFile).
    """
    if not path.is_file():
        return "missing"
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            lacking = [m for m in _MEMBERS if m not in names]
            if lacking:
                return f"incomplete (no {', '.join(lacking)} in it)"
            bad = z.testzip()
            if bad is not None:
                return f"damaged ({bad} fails its checksum)"
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        return f"damaged ({one_line(e)})"
    return None


def load_model(path: Path, what: str = "the run's model", fix: str = "train the run again") -> Any:
    """keras.models.load_model in safe mode, with nnctl's classes registered; one-line errors."""
    reason = damage(path)
    if reason is not None:
        raise UserError(f"{path} is {reason}: {what} cannot be loaded; {fix}")
    from nnctl.backend import keras
    from nnctl.model import layers  # noqa: F401  (registers nnctl's own classes with Keras' serialization)

    try:
        return keras().models.load_model(path, safe_mode=True)
    except Exception as e:  # noqa: BLE001  (Keras raises many types for a file it cannot rebuild)
        text = one_line(e)
        if "safe_mode" in text or "Lambda" in text:
            raise UserError(f"{path} holds code (a Lambda layer or a Python function), which nnctl never runs: "
                            "Keras' safe mode refused it; use a model file made by nnctl, or load it yourself "
                            "with keras.models.load_model(..., safe_mode=False) only if you trust its author") from None
        raise UserError(f"{path} cannot be loaded as a Keras model ({text[:200]}); {fix}") from None


def load_weights(model: Any, path: Path) -> None:
    """Weights (and the optimizer's state) of a saved .keras file into a built model."""
    reason = damage(path)
    if reason is not None:
        raise UserError(f"{path} is {reason}")
    from nnctl.model import layers  # noqa: F401

    try:
        model.load_weights(path)
    except Exception as e:  # noqa: BLE001  (h5py and Keras raise many types for a bad weights file)
        raise UserError(f"{path} cannot be read ({one_line(e)[:200]})") from None


def mixed_policy(path: Path) -> str | None:
    """The mixed-precision policy a .keras file's layers compute in, or None for float32."""
    with zipfile.ZipFile(path) as z:
        found = [p["config"]["name"] for p in _policies(json.loads(z.read("config.json")))]
    return next((name for name in found if name.startswith("mixed_")), None)


def load_float32(path: Path, what: str = "the run's model") -> Any:
    """The model of a .keras file with every layer computing in float32 (a format without bfloat16
    or float16 ops: TFLite, ONNX). Only config.json changes: under a mixed policy the variables are
    float32 already, and the assets (vocabularies) and weights are copied byte for byte."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as dst:
            for item in src.infolist():
                data = src.read(item)
                if item.filename == "config.json":
                    config = json.loads(data)
                    for policy in _policies(config):
                        policy["config"]["name"] = "float32"
                    data = json.dumps(config).encode()
                dst.writestr(item, data)
        return load_model(copy, what)


def _policies(node: Any) -> Any:
    """Every serialized DTypePolicy in a model's config (not a layer that happens to be named mixed_...)."""
    if isinstance(node, dict):
        if node.get("class_name") == "DTypePolicy" and isinstance(node.get("config"), dict):
            yield node
        for value in node.values():
            yield from _policies(value)
    elif isinstance(node, list):
        for value in node:
            yield from _policies(value)
