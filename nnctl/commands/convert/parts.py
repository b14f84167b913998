"""What the script's statements are read into: a functional model's tensors, the model, and what
the script says about its data, compile and fit; and the small readers both halves share."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from nnctl.commands.convert import keras_args
from nnctl.commands.convert.values import Unknown


@dataclass
class Tensor:
    """A functional model's value: an Input, a layer applied to others, or several merged."""

    kind: str  # input | layer | merge
    layer: Any = None  # the layer entry (input: the shape; merge: the merge layer's name)
    parents: list[Tensor] = field(default_factory=list)
    name: str | None = None


@dataclass
class Model:
    layers: list[Any] = field(default_factory=list)
    input_shape: list[int] | None = None
    inputs: list[Tensor] | None = None  # functional
    outputs: list[Tensor] | None = None
    line: int = 0


@dataclass
class Found:
    """What the script says, gathered as its statements are read."""

    model: Model | None = None
    compile: dict[str, Any] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)
    augmentation: dict[str, Any] | None = None
    early_stopping: dict[str, Any] | None = None
    dataset: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # data keys the script's loading implies
    onehot: bool = False
    notes: list[tuple[int, str, bool]] = field(default_factory=list)  # (line, text, a warning)
    # What the model or its training needs and has no config form: any one makes convert refuse (exit 2)
    refusals: list[tuple[int, str]] = field(default_factory=list)
    first_layer: int | None = None  # where a Keras Application is built: named when no model is


def fixed(shape: Any, what: str) -> None:
    """An input shape a config can give: every dimension a number (nnctl's inputs have fixed shapes)."""
    if isinstance(shape, list) and any(d is None for d in shape):
        raise Unknown(what, f"has a dimension of variable length ({shape}): a config's input_shape gives each "
                            "dimension's size (pad the sequences to one length)")


def is_layer(value: Any) -> bool:
    """A layer entry as the config writes it: `Flatten`, `{Dense: {units: 10}}`."""
    if isinstance(value, str):
        return keras_args.signature("layers", value) is not None
    return isinstance(value, dict) and len(value) == 1 and not {"_flow", "name", "early_stopping", "note"} & set(value)


def arguments(call: ast.Call, positional: list[str]) -> dict[str, ast.AST]:
    out = dict(zip(positional, call.args, strict=False))
    out.update({k.arg: k.value for k in call.keywords if k.arg})
    return out
