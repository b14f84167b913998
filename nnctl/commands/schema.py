"""A JSON Schema of the config for YAML language servers, with Keras' own names as completions.

The structure comes from the pydantic models (unknown keys are errors, as in nnctl);
layer, loss, optimizer and metric names are the ones this Keras accepts, found by asking
its registries, so the schema matches the installed version.
"""

from __future__ import annotations

import re
from typing import Any

from nnctl.backend import keras
from nnctl.config import Config
from nnctl.model import keras_names

ALIASES = ["accuracy", "acc", "mse", "mae", "mape", "msle", "auc", "precision", "recall", "crossentropy"]


def accepted(module: Any) -> list[str]:
    """Every name `module.get` resolves: public names, their lower-case and snake_case forms, common aliases."""
    candidates = set(ALIASES)
    for n in keras_names._public(module):
        candidates |= {n, n.lower(), re.sub(r"(?<!^)(?=[A-Z])", "_", n).lower()}
    names = []
    for n in sorted(candidates):
        try:
            if module.get(n) is not None:
                names.append(n)
        except Exception:  # noqa: BLE001, S112  (probing: Keras raises many types for names it rejects)
            continue
    return names


def _named(names: list[str], what: str) -> dict[str, Any]:
    return {
        "description": f"a keras {what} name, or {{name: ..., <its arguments>}}",
        "anyOf": [
            {"type": "string", "enum": names},
            {"type": "object", "properties": {"name": {"type": "string", "enum": names}}},
        ],
    }


def json_schema() -> dict[str, Any]:
    from nnctl.config import keras2

    k = keras()
    schema = Config.model_json_schema()
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["title"] = "nnctl experiment config"
    props = schema["properties"]
    props["extends"] = {"type": "string", "description": "a base config this one is written over (a path relative "
                                                         "to this file): mappings merge key by key, lists are "
                                                         "replaced; base < this file < --set"}
    # A file that extends a base may leave out what the base gives (data, layers).
    schema["if"], schema["then"] = {"required": ["extends"]}, {}
    schema["else"] = {"required": schema.pop("required", [])}
    layers = sorted({*keras_names.layer_names(), *keras2.RNN_LAYERS})
    entry = {"anyOf": [
        {"type": "string", "enum": layers},
        {"type": "object", "minProperties": 1, "maxProperties": 1, "propertyNames": {"enum": layers}},
    ]}
    stack = {"type": "array", "minItems": 1, "items": entry}
    merge = {"description": "the keras merge layer that joins several branches (default Concatenate)",
             "anyOf": [{"type": "string", "enum": layers}, entry]}
    branch = {"description": "a branch: {from: NAME or [NAMES], merge: LAYER, layers: [...]}", "type": "object",
              "additionalProperties": False, "required": ["from"],
              "properties": {"from": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                             "merge": merge, "layers": {"type": "array", "items": entry}}}
    props["layers"] = {"anyOf": [
        {**stack, "description": "the layer stack, first to last: a keras.layers name, or {Name: {arguments}} / "
                                 "{Name: value}"},
        {"description": "the graph form: named branches; a list starts from the input of its name, a branch "
                        "named after a target is that output", "type": "object", "minProperties": 1,
         "additionalProperties": {"anyOf": [stack, branch]}},
    ]}
    optimizers = [n for n in accepted(k.optimizers)
                  if n.lower() not in {"optimizer", "lossscaleoptimizer", "loss_scale_optimizer"}]
    props["optimizer"] = _named(optimizers, "optimizer")
    # nnctl's own loss and the course's Keras 2 names (translated with a warning) are accepted too.
    from nnctl.model.layers import LOSSES

    losses = sorted({*accepted(k.losses), *LOSSES, *keras2.LOSSES})
    per_output = {"description": "the graph form: per output name", "type": "object"}
    props["loss"] = {"anyOf": [_named(losses, "loss"), {**per_output, "additionalProperties": _named(losses, "loss")},
                               {"type": "null"}]}
    metrics = sorted({*accepted(k.metrics), *keras2.METRICS})
    metric_list = {"type": "array", "items": _named(metrics, "metric")}
    props["metrics"] = {"anyOf": [metric_list, {**per_output, "additionalProperties": metric_list}, {"type": "null"}]}
    return schema
