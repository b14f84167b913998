"""A table's columns as model inputs, encoded inside the model so that the saved model (and every
export) takes raw rows: numbers' gaps filled with training-split statistics plus a was-missing
indicator (`FillMissing`), numbers standardised (`Normalization`), categories one-hot
(`StringLookup`, gaps a `<missing>` category), text a bag of words (`TextVectorization`).

Everything is computed on the training split only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl.backend import keras
from nnctl.config import Config
from nnctl.config.data import NUMBER_DEFAULT
from nnctl.config.graph import InputSpec
from nnctl.data.profile import MISSING
from nnctl.errors import UserError
from nnctl.model.build import safe_name

TEXT_TOKENS = 1000  # a bag-of-words column's vocabulary in the stack form


def fill_layer(cfg: Config, columns: list[str], x: np.ndarray, name: str) -> Any:
    """Each column's gap value by data.missing (default: the median) and its indicator if it had gaps."""
    from nnctl.model.layers import FillMissing  # importing nnctl's layers starts TensorFlow's runtime

    values, indicate = [], []
    for j, c in enumerate(columns):
        col = x[:, j]
        present = col[~np.isnan(col)]
        how, value = cfg.data.missing_for(c) or (NUMBER_DEFAULT, None)
        if how == "constant":
            try:
                values.append(float(value))
            except ValueError:
                raise UserError(f"bad value {value!r}: column {c!r} holds numbers, so its constant must be one",
                                f"data.missing.{c}") from None
        elif not len(present):
            values.append(0.0)
        elif how == "mean":
            values.append(float(present.mean()))
        elif how == "most_frequent":
            uniq, counts = np.unique(present, return_counts=True)
            values.append(float(uniq[counts.argmax()]))
        else:  # median; drop and error leave no gap in training, and predict's rows get the median
            if how not in (NUMBER_DEFAULT, "median", "drop", "error"):
                raise UserError(f"{how} is not for numbers here", f"data.missing.{c}")
            values.append(float(np.median(present)))
        if len(present) < len(col):
            indicate.append(j)
    return FillMissing(values, indicate, name=f"{name}_fill", dtype="float32")


def number_layers(cfg: Config, columns: list[str], x: np.ndarray, name: str, first: Any) -> list[Any]:
    """FillMissing, then Normalization unless data.standardize is off or the stack already starts with one."""
    k = keras()
    layers = [fill_layer(cfg, columns, x, name)]
    if cfg.data.standardize and not _is_normalization(first):
        layers.append(k.layers.Normalization(name=f"{name}_standardize", dtype="float32"))
    return layers


def _is_normalization(entry: Any) -> bool:
    name = entry if isinstance(entry, str) else next(iter(entry), "") if isinstance(entry, dict) else ""
    return name == "Normalization"


def front(cfg: Config, data: Any) -> list[Any]:
    """The layers before the stack of an all-numeric table (one float input); adapted with the stack's."""
    return number_layers(cfg, data.table.features, data.train.x, "numbers", cfg.layers[0] if cfg.layers else None)


def encode(k: Any, cfg: Config | None, name: str, spec: InputSpec, tensor: Any, values: np.ndarray,
           branch: Any, lookups: dict[str, Any]) -> Any:
    """One named input as the layers after it see it. `cfg` is None for arrays (no gaps to fill)."""
    if spec.type == "category":
        how, value = (cfg.data.missing_for(spec.column or name) if cfg else None) or ("", None)
        if how == "most_frequent":
            from nnctl.model.layers import FillText

            present = values[values != MISSING]
            uniq, counts = np.unique(present, return_counts=True)
            mode = str(uniq[counts.argmax()]) if len(uniq) else MISSING
            tensor = FillText(mode, name=f"{safe_name(name)}_fill")(tensor)
            values = np.where(values == MISSING, mode, values)
        lookups[name] = k.layers.StringLookup(output_mode="one_hot", name=f"{safe_name(name)}_onehot")
        lookups[name].adapt(values)  # the training split's categories only; unseen ones map to OOV
        return lookups[name](tensor)
    if spec.type != "number" or cfg is None or values.ndim != 2:
        return tensor
    first = branch[0] if isinstance(branch, list) and branch else None
    columns = spec.columns or [spec.column or name]
    return apply(number_layers(cfg, columns, values, safe_name(name), first), tensor, values)


def apply(layers: list[Any], tensor: Any, values: np.ndarray) -> Any:
    """The layers on `tensor`, each adapted (where it adapts) on the training values as they reach it."""
    for layer in layers:
        if hasattr(layer, "adapt"):
            layer.adapt(values)
        tensor = layer(tensor)
        values = np.asarray(layer(values))
    return tensor
