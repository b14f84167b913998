"""Floating-point operations of a training step, counted from the layers' shapes.

Forward cost: 2 FLOPs per multiply-add of the layers that do the arithmetic (Dense,
convolutions, recurrent cells); element-wise layers (activations, pooling, dropout,
normalisation) are left out as small. A training step costs about 3x the forward pass
(forward, plus gradients for inputs and for weights). A layer with weights that this
module cannot count makes the whole count unknown (None) rather than wrong.
"""

from __future__ import annotations

import math
from typing import Any

TRAINING_FACTOR = 3


def training_flops_per_example(model: Any) -> int | None:
    forward = _forward(model)
    return None if forward is None else TRAINING_FACTOR * forward


def _forward(layer: Any) -> int | None:
    name = type(layer).__name__
    sublayers = getattr(layer, "layers", None)
    if sublayers is not None and name in ("Sequential", "Functional", "Model"):
        total = 0
        for sub in sublayers:
            f = _forward(sub)
            if f is None:
                return None
            total += f
        return total
    counter = _COUNTERS.get(name)
    if counter is not None:
        try:
            return int(counter(layer, _shape(layer.input), _shape(layer.output)))
        except (AttributeError, TypeError, ValueError):
            return None
    if name in ("Bidirectional",):
        f = _forward_wrapped(layer)
        return None if f is None else 2 * f
    return 0 if not layer.trainable_weights or name in _SMALL else None


def _forward_wrapped(layer: Any) -> int | None:
    inner = layer.forward_layer
    counter = _COUNTERS.get(type(inner).__name__)
    if counter is None:
        return None
    return int(counter(inner, _shape(layer.input), _shape(layer.output)))


def _shape(tensor: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in tensor.shape[1:])  # per example: drop the batch axis


def _dense(layer: Any, inp: tuple, out: tuple) -> int:
    return 2 * math.prod(inp) * layer.units


def _conv(layer: Any, inp: tuple, out: tuple) -> int:
    channels_in = inp[-1] if layer.data_format == "channels_last" else inp[0]
    spatial_out = out[:-1] if layer.data_format == "channels_last" else out[1:]
    return 2 * math.prod(layer.kernel_size) * (channels_in // layer.groups) * layer.filters * math.prod(spatial_out)


def _depthwise(layer: Any, inp: tuple, out: tuple) -> int:
    channels_in = inp[-1] if layer.data_format == "channels_last" else inp[0]
    spatial_out = out[:-1] if layer.data_format == "channels_last" else out[1:]
    return 2 * math.prod(layer.kernel_size) * channels_in * layer.depth_multiplier * math.prod(spatial_out)


def _separable(layer: Any, inp: tuple, out: tuple) -> int:
    channels_in = inp[-1] if layer.data_format == "channels_last" else inp[0]
    spatial_out = out[:-1] if layer.data_format == "channels_last" else out[1:]
    pointwise = 2 * channels_in * layer.depth_multiplier * layer.filters * math.prod(spatial_out)
    return _depthwise(layer, inp, out) + pointwise


def _transpose(layer: Any, inp: tuple, out: tuple) -> int:
    channels_in = inp[-1] if layer.data_format == "channels_last" else inp[0]
    spatial_in = inp[:-1] if layer.data_format == "channels_last" else inp[1:]
    return 2 * math.prod(layer.kernel_size) * channels_in * layer.filters * math.prod(spatial_in)


def _recurrent(gates: int) -> Any:
    def count(layer: Any, inp: tuple, out: tuple) -> int:
        steps, features = inp[0], inp[-1]
        return 2 * gates * (features + layer.units) * layer.units * steps

    return count


_COUNTERS = {
    "Dense": _dense,
    "Conv1D": _conv, "Conv2D": _conv, "Conv3D": _conv,
    "DepthwiseConv1D": _depthwise, "DepthwiseConv2D": _depthwise,
    "SeparableConv1D": _separable, "SeparableConv2D": _separable,
    "Conv1DTranspose": _transpose, "Conv2DTranspose": _transpose, "Conv3DTranspose": _transpose,
    "Maxout": lambda layer, inp, out: 2 * math.prod(inp) * layer.units * layer.pieces,
    "LSTM": _recurrent(4), "GRU": _recurrent(3), "SimpleRNN": _recurrent(1),
}
_SMALL = {"BatchNormalization", "LayerNormalization", "Normalization", "PReLU", "Embedding"}
