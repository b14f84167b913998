"""Keras calls as config entries: a layer's arguments named through Keras' own signatures, an
optimizer, a callback. Imports Keras (not the script): `nnctl convert` needs its signatures."""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

from nnctl.model.applications import is_application

MERGES = {"concatenate": "Concatenate", "add": "Add", "average": "Average", "multiply": "Multiply",
          "maximum": "Maximum", "minimum": "Minimum", "subtract": "Subtract"}
EARLY_STOPPING = ("monitor", "patience", "min_delta", "mode", "restore_best_weights")
CALLBACK_NOTES = {
    "ModelCheckpoint": "nnctl checkpoints every epoch and keeps the best epoch itself (checkpoints/)",
    "TensorBoard": "nnctl writes TensorBoard logs in every run folder (tensorboard/)",
    "CSVLogger": "nnctl writes history.csv in every run folder",
}

__all__ = ["MERGES", "callback", "is_application", "layer", "optimizer", "signature"]


@cache
def signature(kind: str, name: str) -> list[str] | None:
    """The names of a Keras class's arguments, in order (None where Keras has no such class)."""
    from nnctl.backend import keras

    module = getattr(keras(), kind, None)
    cls = getattr(module, name, None) if module is not None else None
    if cls is None:
        return None
    target = cls.__init__ if inspect.isclass(cls) else cls
    return [p.name for p in inspect.signature(target).parameters.values()
            if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY)]


def layer(kind: str, name: str, args: dict[str, Any]) -> dict[str, Any] | str | None:
    """`{Name: {arg: value}}` (or just `Name`); None for a name Keras does not have."""
    if signature(kind, name) is None and not (kind == "applications" and is_application(name)):
        return None
    args = {k: v for k, v in args.items() if k != "name"}
    if kind == "applications" and "input_shape" in args:
        args["_input_shape"] = args.pop("input_shape")  # the model's input: moved to input_shape
    return {name: args} if args else name


def optimizer(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, **{k: v for k, v in args.items() if k != "name"}}


def callback(name: str, args: dict[str, Any]) -> dict[str, Any] | None:
    if name == "EarlyStopping":
        return {"early_stopping": {k: v for k, v in args.items() if k in EARLY_STOPPING}}
    if name in CALLBACK_NOTES:  # what every run does anyway: said, not warned about
        return {"note": f"{name}: {CALLBACK_NOTES[name]}", "warn": False}
    return {"note": f"{name}: no config equivalent; not converted", "warn": True}
