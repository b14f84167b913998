"""A saved `.keras` file's architecture and compile arguments as a config, read from the
config.json inside its zip: no code is loaded, no weights are read."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from nnctl.config.data import PLACEHOLDER
from nnctl.errors import UserError

SKIP = {"name", "trainable", "dtype", "autocast", "input_shape", "batch_input_shape", "build_config"}


def convert(path: Path, data: str | None) -> Any:
    from nnctl.commands.convert import Converted

    try:
        with zipfile.ZipFile(path) as z:
            saved = json.loads(z.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise UserError(f"{path} is not a Keras 3 .keras file (a zip with config.json)", "SCRIPT") from None
    if saved.get("class_name") not in ("Sequential", "Functional", "Model"):
        raise UserError(f"{path} holds a {saved.get('class_name')}, not a Sequential or functional model", "SCRIPT")
    entries = saved.get("config", {}).get("layers", [])
    name = path.parent.name if path.stem == "model" else path.stem  # a run's model.keras: the run's name
    cfg: dict[str, Any] = {"name": name, "data": {"source": data or PLACEHOLDER}}
    out = Converted(cfg, comments=[f"from {path.name}'s config.json (architecture and compile arguments)"])
    layers = []
    for e in entries:
        name, args = e.get("class_name"), e.get("config", {})
        if name == "InputLayer":
            shape = args.get("batch_shape") or args.get("batch_input_shape")
            cfg["input_shape"] = list(shape[1:]) if shape else None
            continue
        if saved["class_name"] != "Sequential" and len(e.get("inbound_nodes") or []) > 1:
            raise UserError(f"{path}: a functional model that reuses layers; only chains convert", "SCRIPT")
        layers.append({name: _defaults_dropped(name, {k: _plain(v) for k, v in args.items() if k not in SKIP})})
    cfg["layers"] = layers
    compiled = saved.get("compile_config") or {}
    if compiled.get("loss"):
        cfg["loss"] = _plain(compiled["loss"])
    if compiled.get("optimizer"):
        opt = _plain(compiled["optimizer"])
        cfg["optimizer"] = _optimizer(opt if isinstance(opt, dict) else {"name": opt})
    if compiled.get("metrics"):
        cfg["metrics"] = [_plain(m) for m in compiled["metrics"]]
    if data is None:
        out.warnings.append("data.source is a placeholder: give --data SOURCE, or edit it before training")
    return out


def _optimizer(opt: dict[str, Any]) -> dict[str, Any]:
    """Only what differs from the optimizer's defaults, float32 values back to their decimal."""
    import inspect

    from nnctl.backend import keras

    cls = getattr(keras().optimizers, str(opt.get("name")), None)
    defaults = {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()} if cls else {}
    out = {}
    for k, v in opt.items():
        v = float(f"{v:.7g}") if isinstance(v, float) else v
        if k == "name" or defaults.get(k, inspect.Parameter.empty) != v:
            out[k] = v
    return out


def _plain(value: Any) -> Any:
    """A serialized Keras object ({"module", "class_name", "config"}) as a config's {name: ..., args}."""
    if isinstance(value, dict) and "class_name" in value:
        args = {k: _plain(v) for k, v in (value.get("config") or {}).items() if k not in SKIP and v is not None}
        return {"name": value["class_name"], **args} if args else value["class_name"]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _defaults_dropped(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Only the arguments that differ from the layer's defaults: a readable config."""
    import inspect

    from nnctl.backend import keras

    cls = getattr(keras().layers, name, None)
    if cls is None:
        raise UserError(f"layer {name} is not one of this Keras' layers (a custom layer); it cannot convert", "SCRIPT")
    defaults = {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()
                if p.default is not inspect.Parameter.empty}
    keep = {}
    for k, v in args.items():
        d = defaults.get(k, inspect.Parameter.empty)
        same = v == d or (isinstance(v, str) and isinstance(d, str) and v.lower().replace("_", "") ==
                          d.lower().replace("_", "")) or (isinstance(v, (dict, str)) and _default_object(v, d))
        if k in defaults and same:
            continue
        if k not in defaults and k not in inspect.signature(cls.__init__).parameters:
            continue  # Keras' bookkeeping (seed-less config keys) that the constructor does not take
        keep[k] = v
    return keep


def _default_object(value: Any, default: Any) -> bool:
    """A serialized initializer or the like naming the default (GlorotUniform for "glorot_uniform")."""
    name = value["name"] if isinstance(value, dict) else value
    return isinstance(default, str) and str(name).lower().replace("_", "") == default.lower().replace("_", "") \
        and (not isinstance(value, dict) or set(value) <= {"name", "seed"})
