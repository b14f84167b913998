"""Model building: the config's layer stack as a keras.Sequential, checked layer by layer."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import keras_names
from .config import Config
from .errors import UserError
from .tf import keras


def build(cfg: Config, input_shape: tuple[int, ...]) -> Any:
    """Stack the layers on an Input; a layer that does not fit names its index and class."""
    k = keras()
    k.utils.set_random_seed(cfg.seed)  # weights initialise the same way for the same seed
    model = k.Sequential(name=_model_name(cfg.name or "model"))
    model.add(k.Input(shape=input_shape))
    shape = (None, *input_shape)
    for i, entry in enumerate(cfg.layers):
        name, _ = keras_names.layer_entry(entry)
        key = f"layers.{i}"
        layer = keras_names.make_layer(entry, key)
        try:
            model.add(layer)
        except Exception as e:  # noqa: BLE001  (Keras raises many types for a bad shape)
            raise UserError(f"{name} does not fit its input of shape {shape}: "
                            f"{keras_names.one_line(e)}", f"{key}.{name}") from None
        shape = model.output_shape
    return model


def _model_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name) or "model"


def output_units(model: Any) -> int:
    return int(np.prod(model.output_shape[1:]))


def output_activation(model: Any) -> str:
    """The activation of the output: an Activation/Softmax layer at the end, or the last layer's own."""
    k = keras()
    for layer in reversed(model.layers):
        if isinstance(layer, k.layers.Softmax):
            return "softmax"
        act = getattr(layer, "activation", None)
        if act is not None:
            return getattr(act, "__name__", str(act))
        if not isinstance(layer, (k.layers.Dropout, k.layers.Flatten, k.layers.Reshape)):
            return "linear"
    return "linear"


def loss_name(loss: Any) -> str:
    """Canonical snake_case name of a loss given as a string or an object."""
    if isinstance(loss, str):
        loss = keras().losses.get(loss)
    fn = getattr(loss, "fn", loss)
    return getattr(fn, "__name__", None) or getattr(loss, "name", str(loss))


def adapt(model: Any, x: np.ndarray, batch_size: int) -> list[str]:
    """Adapt preprocessing layers (Normalization, TextVectorization, ...) on the training inputs only."""
    k = keras()
    adapted = []
    for i, layer in enumerate(model.layers):
        if not hasattr(layer, "adapt"):
            continue
        inputs = x
        if i:  # what reaches this layer: the training inputs through the layers before it
            inputs = k.Sequential(model.layers[:i]).predict(x, batch_size=batch_size, verbose=0)
        layer.adapt(inputs)
        adapted.append(layer.name)
    return adapted


def summary_text(model: Any) -> str:
    """Keras' own summary as plain text, never cut at the 80 columns rich assumes off a terminal."""
    lines: list[str] = []
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "200"  # rich sizes its capture console from COLUMNS
    try:
        model.summary(line_length=100, print_fn=lambda line, *a, **kw: lines.append(line))
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return "\n".join(line.rstrip() for line in "\n".join(lines).splitlines()) + "\n"


def param_counts(model: Any) -> dict[str, int]:
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    total = int(model.count_params())
    return {"total": total, "trainable": trainable, "non_trainable": total - trainable}
