"""Model building: the config's layer stack as a keras.Sequential, checked layer by layer.

Tabular data with categorical columns, and the graph form, are wired by `model.graph`: named
inputs, StringLookup one-hot encoding adapted on the training split, all of it saved in the
model so that raw rows can be predicted later.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnctl.backend import keras
from nnctl.config import Config
from nnctl.errors import UserError, one_line
from nnctl.model import applications, augment, keras_names


@dataclass
class Built:
    model: Any  # what is compiled, trained and saved


def build(cfg: Config, input_shape: tuple[int, ...], dtype: str = "float32", train_x: Any = None,
          front: list[Any] | None = None) -> Any:
    """Stack the layers on an Input; a layer that does not fit names its index and class. `front`:
    layers before the stack (a table's gap filling and standardisation, model.tabular)."""
    k = keras()
    k.utils.set_random_seed(cfg.seed)  # weights initialise the same way for the same seed
    model = k.Sequential(name=safe_name(cfg.name or "model"))
    model.add(k.Input(shape=input_shape, dtype=dtype))
    for layer in front or []:
        model.add(layer)
    shape = (None, *input_shape)
    if cfg.augmentation is not None:
        for layer in augment.layers(cfg.augmentation, shape, cfg.seed, train_x):
            model.add(layer)
    for i, entry in enumerate(cfg.layers):
        name, value = keras_names.layer_entry(entry)
        key = f"layers.{i}"
        if applications.is_application(name):
            new = applications.layers(name, value, shape, f"{key}.{name}")
        else:
            new = [keras_names.make_layer(entry, key)]
        if i == 0 and dtype == "string" and not _takes_strings(new[0]):
            raise UserError("the inputs are raw text: start the stack with a TextVectorization layer, e.g. "
                            "- TextVectorization: {max_tokens: 20000, output_sequence_length: 200}", key)
        for j, layer in enumerate(new):
            if (i == len(cfg.layers) - 1 and j == len(new) - 1) or hasattr(layer, "adapt"):
                float32_output(k, layer)
            try:
                with weights_fit_in_memory():
                    model.add(layer)
            except _TooBig as e:
                raise UserError(f"{name}'s weights (shape {list(e.args[0])}) would not fit in this machine's "
                                "memory; use fewer units or filters", f"{key}.{name}") from None
            except Exception as e:  # noqa: BLE001  (Keras raises many types for a bad shape)
                raise UserError(f"{name} does not fit its input of shape {shape}: "
                                f"{one_line(e)}", f"{key}.{name}") from None
            shape = model.output_shape
    return model


def float32_output(k: Any, layer: Any) -> None:
    """Under a mixed-precision policy the output layer computes in float32 (softmax and the
    loss in 16 bits lose precision), as Keras' mixed-precision guide advises; so do layers that
    adapt to data (Normalization's adapt fails on a bfloat16 policy: AddV2 of float and bfloat16)."""
    if layer.dtype_policy.name.startswith("mixed_"):
        layer.dtype_policy = "float32"


@contextlib.contextmanager
def policy_scope(policy: str) -> Iterator[None]:
    """Layers made inside take `policy` (Keras gives a new layer the global policy); the
    process's policy is as before afterwards, so nothing else reads it from there."""
    k = keras()
    before = k.mixed_precision.global_policy()
    k.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        k.mixed_precision.set_global_policy(before)


class _TooBig(Exception):
    pass


@contextlib.contextmanager
def weights_fit_in_memory() -> Iterator[None]:
    """Refuse a weight bigger than RAM before TensorFlow tries to allocate it.

    Without this, `Dense: {units: 1000000000000}` sits ~10 s in TensorFlow's allocator
    retry loop before failing with an OOM message in its own words.
    """
    layer_cls = keras().layers.Layer
    original = layer_cls.add_weight
    limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")

    def checked(self: Any, shape: Any = None, *args: Any, **kwargs: Any) -> Any:
        dims = [int(d) for d in (shape or ()) if d is not None]
        if math.prod(dims) * 4 > limit:
            raise _TooBig(dims)
        return original(self, shape, *args, **kwargs)

    layer_cls.add_weight = checked
    try:
        yield
    finally:
        layer_cls.add_weight = original


def _takes_strings(layer: Any) -> bool:
    k = keras()
    return isinstance(layer, (k.layers.TextVectorization, k.layers.StringLookup, k.layers.Hashing))


def safe_name(name: str) -> str:
    """A Keras/TensorFlow name: TF scope names must start with a letter or digit."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name).lstrip("_-") or "model"


def output_units(body: Any, where: str) -> int:
    """How many numbers the model outputs per example; `where` is the last layer's key path."""
    shape = body.output_shape[1:]
    if any(d is None for d in shape):
        raise UserError(f"the model's output shape {list(shape)} is not fixed (None: varies per example); "
                        "end the stack with a layer of fixed size, such as Dense", where)
    return int(np.prod(shape))


def output_activation(tensor: Any) -> str:
    """The activation that makes an output tensor (`model.outputs[i]`): a Softmax layer, or the
    producing layer's own, looking back through Dropout, Flatten and Reshape."""
    k = keras()
    while True:
        layer = tensor._keras_history.operation
        if isinstance(layer, k.layers.Softmax):
            return "softmax"
        act = getattr(layer, "activation", None)
        if act is not None:
            return getattr(act, "__name__", str(act))
        if not isinstance(layer, (k.layers.Dropout, k.layers.Flatten, k.layers.Reshape)):
            return "linear"
        tensor = layer.input


def loss_name(loss: Any) -> str:
    """Canonical snake_case name of a loss given as a string or an object."""
    if isinstance(loss, str):
        loss = keras().losses.get(loss)
    fn = getattr(loss, "fn", loss)
    return getattr(fn, "__name__", None) or getattr(loss, "name", str(loss))


def from_logits(loss: Any) -> bool:
    """Whether a loss object takes its outputs as logits (`{name: ..., from_logits: true}`)."""
    try:
        return bool(loss.get_config().get("from_logits", False))
    except (AttributeError, TypeError, NotImplementedError):
        return False


def adapt(built: Built, inputs: Callable[[], Any], batch_size: int) -> list[str]:
    """Adapt preprocessing layers (Normalization, TextVectorization, ...) on the training inputs only.

    `inputs` makes the input dataset, only when some layer adapts (it copies the training split).
    """
    k = keras()
    layers = built.model.layers
    if not isinstance(built.model, k.Sequential):
        return []  # the graph form adapts its layers as it places them
    if not any(hasattr(layer, "adapt") for layer in layers):
        return []
    x = inputs()
    adapted = []
    for i, layer in enumerate(layers):
        if not hasattr(layer, "adapt"):
            continue
        inputs = x
        if i:  # what reaches this layer: the training inputs through the layers before it
            inputs = k.Sequential(layers[:i]).predict(x, batch_size=batch_size, verbose=0)
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
