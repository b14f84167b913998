"""The course's Keras 2 spelling, translated to Keras 3 before the schema check.

Configs copied from Keras 2 course code (`SGD(lr=0.01, decay=1e-6)`, `Dense(64, input_dim=8)`,
`loss='rmse'`) work: each translation is a warning that shows the Keras 3 spelling, and the
run's config.yaml holds the Keras 3 form. What has no faithful translation is refused with
the fix. Works on the raw YAML mapping; imports nothing from Keras.
"""

from __future__ import annotations

import math
from typing import Any

from nnctl.errors import UserError

# Keras 2's default learning rates, needed only to translate `decay` where `lr` is left out.
KERAS2_LR = {"sgd": 0.01, "rmsprop": 0.001, "adagrad": 0.01, "adadelta": 1.0, "adam": 0.001, "adamax": 0.002,
             "nadam": 0.002}
RNN_LAYERS = {"CuDNNLSTM": "LSTM", "CuDNNGRU": "GRU"}  # Keras 3's LSTM/GRU use cuDNN by themselves
LOSSES = {"rmse": "root_mean_squared_error"}
METRICS = {"acc": "accuracy", "rmse": "RootMeanSquaredError", "root_mean_squared_error": "RootMeanSquaredError"}


def translate(data: dict[str, Any]) -> list[str]:
    """Rewrite Keras 2 spellings in place; one warning per translation."""
    notes: list[str] = []
    if "nb_epoch" in data:
        if "epochs" in data:
            raise UserError("give epochs only (nb_epoch is Keras 1's name for it)", "nb_epoch")
        data["epochs"] = data.pop("nb_epoch")
        notes.append(f"nb_epoch is Keras 1's spelling; Keras 3: epochs: {data['epochs']}")
    if isinstance(data.get("optimizer"), dict):
        notes += _optimizer(data["optimizer"])
    loss = data.get("loss")
    if isinstance(loss, str) and loss in LOSSES:
        data["loss"] = LOSSES[loss]
        notes.append(f"loss: {loss} is the slides' name; nnctl's Keras loss: {LOSSES[loss]} "
                     "(the root of the batch's mean squared error)")
    if isinstance(data.get("metrics"), list):
        for i, m in enumerate(data["metrics"]):
            if isinstance(m, str) and m in METRICS:
                data["metrics"][i] = METRICS[m]
                notes.append(f"metrics.{i}: {m} is spelt {METRICS[m]} in Keras 3")
    if isinstance(data.get("augmentation"), dict) and "rescale" in data["augmentation"]:
        notes += _rescale(data["augmentation"])
        if not data["augmentation"]:  # rescale was all it held: no augmentation
            data["augmentation"] = None
    if isinstance(data.get("layers"), list):
        notes += _layers(data)
    return notes


def _optimizer(opt: dict[str, Any]) -> list[str]:
    notes = []
    name = str(opt.get("name", "adam"))
    if "lr" in opt:
        if "learning_rate" in opt:
            raise UserError("give learning_rate only (lr is Keras 2's name for it)", "optimizer.lr")
        opt["learning_rate"] = opt.pop("lr")
        notes.append(f"optimizer.lr is Keras 2's spelling; Keras 3: learning_rate: {opt['learning_rate']}")
    if "epsilon" in opt and opt["epsilon"] is None:  # Keras 2: None meant K.epsilon(), Keras 3's default
        del opt["epsilon"]
        notes.append("optimizer.epsilon: null is Keras 2's default (1e-7); Keras 3: leave epsilon out")
    if "decay" not in opt:
        return notes
    decay = opt.pop("decay")
    if decay is None or decay == 0:
        notes.append(f"optimizer.decay: {decay} is Keras 2's default (no decay); Keras 3: leave it out")
        return notes
    if not isinstance(decay, (int, float)) or isinstance(decay, bool) or not math.isfinite(decay) or decay < 0:
        raise UserError(f"bad value {decay!r}: Keras 2's decay is a number >= 0", "optimizer.decay")
    lr = opt.get("learning_rate", KERAS2_LR.get(name.lower()))
    if isinstance(lr, dict):
        raise UserError("decay and a learning-rate schedule: give one (decay is Keras 2's "
                        "InverseTimeDecay with decay_steps: 1)", "optimizer.decay")
    if not isinstance(lr, (int, float)):
        raise UserError(f"Keras 2's decay needs a learning_rate for optimizer {name!r}", "optimizer.decay")
    opt["learning_rate"] = {"name": "InverseTimeDecay", "initial_learning_rate": lr, "decay_steps": 1,
                            "decay_rate": decay}
    notes.append(f"optimizer.decay: {decay} is Keras 2's per-step decay, learning_rate / (1 + decay * step); "
                 f"Keras 3: learning_rate: {{name: InverseTimeDecay, initial_learning_rate: {lr}, "
                 f"decay_steps: 1, decay_rate: {decay}}}")
    return notes


def _rescale(aug: dict[str, Any]) -> list[str]:
    value = aug.pop("rescale")
    if value is None or (isinstance(value, (int, float)) and math.isclose(value, 1 / 255, rel_tol=1e-3)):
        return [f"augmentation.rescale: {value} is ImageDataGenerator's scaling; nnctl already scales "
                "8-bit images to [0, 1]: leave it out"]
    raise UserError(f"bad value {value!r}: nnctl scales 8-bit images to [0, 1] itself (rescale 1/255); "
                    "for other scalings put a Rescaling layer first in layers", "augmentation.rescale")


def _layers(data: dict[str, Any]) -> list[str]:
    notes = []
    for i, entry in enumerate(data["layers"]):
        if isinstance(entry, str) and entry in RNN_LAYERS:
            data["layers"][i] = entry = RNN_LAYERS[entry]
            notes.append(f"layers.{i}: CuDNN layers are Keras 2's; Keras 3: {entry} (uses cuDNN by itself)")
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        (name, args), = entry.items()
        if name in RNN_LAYERS:
            entry[RNN_LAYERS[name]] = entry.pop(name)
            notes.append(f"layers.{i}: {name} is Keras 2's; Keras 3: {RNN_LAYERS[name]} (uses cuDNN by itself)")
            name = RNN_LAYERS[name]
        if not isinstance(args, dict):
            continue
        key = f"layers.{i}.{name}"
        if str(name).endswith("Embedding") and "input_length" in args:
            args.pop("input_length")
            notes.append(f"{key}.input_length is Keras 2's; Keras 3's Embedding takes its length from the "
                         "inputs: leave it out")
        shapes = {k: args.pop(k) for k in ("input_dim", "input_shape", "batch_input_shape")
                  if k in args and not (k == "input_dim" and str(name).endswith("Embedding"))}
        for arg, value in shapes.items():
            notes.append(_input_shape(data, i, key, arg, value))
    return notes


def _input_shape(data: dict[str, Any], i: int, key: str, arg: str, value: Any) -> str:
    """`input_dim: N` (or `input_shape`) on the first layer is the model's input shape."""
    if i != 0:
        return f"{key}.{arg} is ignored after the first layer (as in Keras 2): left out"
    shape = [value] if arg == "input_dim" else list(value or [])
    if arg == "batch_input_shape":
        shape = shape[1:]
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise UserError(f"bad value {value!r}: the input shape as positive whole numbers", f"{key}.{arg}")
    given = data.get("input_shape")
    if given is not None and list(given) != shape:
        raise UserError(f"{arg} {value} disagrees with input_shape {given}: give one", f"{key}.{arg}")
    data["input_shape"] = shape
    return f"{key}.{arg}: {value} is Keras 2's way to give the input; Keras 3: input_shape: {shape}"
