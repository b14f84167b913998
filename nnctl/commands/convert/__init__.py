"""`nnctl convert`: a config from what a user already has, never by running it.

A Keras script is read with `ast` (script.py): the model, compile, fit, ImageDataGenerator,
callbacks and `keras.datasets` become config keys; Keras 2 spellings go through the same
translation as configs (config/keras2.py), with the same warnings. A saved `.keras` file gives
its architecture from its config.json (saved.py), without loading code.

Exit 0 means the same model: what the model or its training needs and a config cannot say (a
custom Layer subclass, Lambda, a custom training loop, a value known only at run time) is refused,
one line per construct naming its file:line. What the config does its own way (callbacks nnctl
has built in, the script's validation arrays) is written as a comment with its line.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.config import dump_yaml, validate
from nnctl.config.data import PLACEHOLDER
from nnctl.config.keras2 import translate
from nnctl.errors import UserError

# The written config's keys in the order a reader expects them.
ORDER = ["name", "task", "data", "input_shape", "augmentation", "layers", "loss", "loss_weights", "optimizer",
         "metrics", "batch_size", "epochs", "shuffle", "early_stopping"]
# keras.datasets names nnctl loads as built-in sources.
DATASETS = {"mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing",
            "california_housing"}
TABLES = {".csv", ".tsv", ".txt", ".parquet", ".xlsx", ".json", ".jsonl"}
IMAGES = {"mnist": [28, 28], "fashion_mnist": [28, 28], "cifar10": [32, 32, 3], "cifar100": [32, 32, 3]}


@dataclass
class Converted:
    config: dict[str, Any]
    warnings: list[str] = field(default_factory=list)  # what was not converted, and the Keras 2 translations
    comments: list[str] = field(default_factory=list)  # the written config's header

    def yaml(self) -> str:
        head = "".join(f"# {c}\n" for c in self.comments)
        return f"# yaml-language-server: $schema=nnctl.schema.json\n{head}{dump_yaml(self.config)}"


def convert(path: Path, data: str | None = None) -> Converted:
    """A config from a Keras script (.py) or a saved model (.keras); `data`: the data source to use
    where the script loads its own."""
    if not path.is_file():
        raise UserError(f"not found: {path}", "SCRIPT")
    if path.suffix == ".keras":
        from nnctl.commands.convert import saved

        return _checked(saved.convert(path, data), path)
    from nnctl.commands.convert.functional import chain, graph
    from nnctl.commands.convert.script import Model, Reader
    from nnctl.commands.convert.values import Unknown

    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError) as e:
        where = f" (line {e.lineno}: {e.msg})" if isinstance(e, SyntaxError) else ""
        raise UserError(f"{path} is not a Python script{where}", "SCRIPT") from None
    try:
        reader = Reader(tree)
    except Unknown as e:
        raise UserError(f"{path}:{e.line or 0}: {e.describe()}") from None
    found = reader.found
    if found.refusals:  # exit 0 means the same model: what a config cannot say is refused, never left out
        raise UserError("\n".join(f"{path}:{line}: {text}" for line, text in sorted(found.refusals)))
    model = found.model or next((o for o in reversed(list(reader.objects.values())) if isinstance(o, Model)), None)
    if model is None or not (model.layers or model.outputs):
        where = f"{path}:{found.first_layer}: a Keras Application is built here, but" if found.first_layer \
            else f"{path}:"
        raise UserError(f"{where} no Keras model found that the script compiles or trains (Sequential(...), "
                        "model.add(...) or Model(inputs, outputs))")
    cfg: dict[str, Any] = {"name": path.stem.replace("_", "-")}
    source = data or (found.dataset if found.dataset in DATASETS else None)
    out = Converted(cfg)
    if found.dataset and found.dataset not in DATASETS:
        out.warnings.append(f"keras.datasets.{found.dataset} is not one of nnctl's built-in sources")
    cfg["data"] = {"source": source or PLACEHOLDER, **(found.data if source in DATASETS else {})}
    if data is not None and Path(data).suffix.lower() in TABLES:
        # The script's model takes its inputs as given: no Normalization layer nnctl would add.
        cfg["data"]["standardize"] = False
        out.comments.append("data.standardize: false keeps the script's model exactly (nnctl would otherwise "
                            "standardise a table's numbers inside the model); true often trains better on raw columns")
    if model.outputs is not None:
        straight = chain(model)
        if straight is None:
            layers, inputs, outputs = graph(model)
            cfg["data"]["inputs"] = {n: {"column": n} for n in inputs}
            cfg["data"]["targets"] = {n: {"column": n} for n in outputs}
            cfg["layers"] = layers
            if isinstance(found.compile.get("metrics"), list) and len(outputs) == 1:
                found.compile["metrics"] = {outputs[0]: found.compile["metrics"]}  # the graph form's is per output
            out.warnings.append("a functional model with several inputs, outputs or branches: the graph form; "
                                "map data.inputs and data.targets to your columns")
        else:
            cfg["input_shape"], cfg["layers"] = straight
    else:
        cfg["layers"] = model.layers
        if model.input_shape is not None:
            cfg["input_shape"] = model.input_shape
    _applications(cfg)
    _flattened(cfg, source, out)
    if found.augmentation:
        cfg["augmentation"] = dict(found.augmentation)
    compiled = found.compile
    for key in ("loss", "optimizer", "metrics"):
        if compiled.get(key) is not None:
            cfg[key] = compiled[key]
    if isinstance(cfg.get("optimizer"), str):
        cfg["optimizer"] = {"name": cfg["optimizer"]}
    arrays = str(source or "").endswith((".npz", ".npy"))
    if cfg.get("loss") in ("categorical_crossentropy", "CategoricalCrossentropy") and not arrays:
        cfg["loss"] = "sparse_categorical_crossentropy"
        made = "to_categorical made" if found.onehot else "the script gives"
        out.warnings.append(f"loss: {made} one-hot labels for categorical_crossentropy; nnctl reads a class per "
                            "example (a table's column, a folder, a built-in set): sparse_categorical_crossentropy, "
                            "the same loss on class numbers")
    fit = dict(found.fit)
    if "validation_split" in fit:
        cfg["data"]["validation_split"] = fit.pop("validation_split")
    cfg.update(fit)
    if found.early_stopping is not None:
        cfg["early_stopping"] = found.early_stopping
    for line, text, warn in sorted(found.notes):
        out.comments.append(f"line {line}: {text}")
        if warn:
            out.warnings.append(f"{path}:{line}: {text}")
    if source is None:
        out.comments.append(f"data.source: {PLACEHOLDER} - the script's data is not a keras.datasets loader: "
                            "give --data SOURCE, or edit data.source")
        out.warnings.append("data.source is a placeholder: give --data SOURCE, or edit it before training")
    return _checked(out, path)


def _applications(cfg: dict[str, Any]) -> None:
    """A Keras Application's own input_shape is the model's input (nnctl resizes inside the model)."""
    layers = cfg["layers"]
    for entry in layers if isinstance(layers, list) else []:
        if isinstance(entry, dict) and len(entry) == 1 and isinstance(next(iter(entry.values())), dict):
            args = next(iter(entry.values()))
            shape = args.pop("_input_shape", None)
            if shape is not None and entry is layers[0]:
                cfg.setdefault("input_shape", shape)


def _flattened(cfg: dict[str, Any], source: str | None, out: Converted) -> None:
    """A script that reshapes a built-in set's images to vectors (`reshape(60000, 784)`) and gives
    input_shape (784,): the images as nnctl loads them, flattened by the model's first layer."""
    image = IMAGES.get(source or "")
    shape = cfg.get("input_shape")
    if image is None or not isinstance(shape, list) or len(shape) != 1 or not isinstance(cfg["layers"], list):
        return
    if shape[0] == int(np.prod(image)):
        cfg["input_shape"] = image
        cfg["layers"].insert(0, "Flatten")
        out.warnings.append(f"input_shape: [{shape[0]}] is {source}'s {'x'.join(map(str, image))} images reshaped "
                            "to vectors by the script; nnctl loads the images: a Flatten layer first does it")


def _checked(out: Converted, path: Path) -> Converted:
    """Keras 2 spellings translated with their warnings, and the schema checked: the written config
    validates (the data placeholder aside, which `nnctl validate` then names)."""
    out.warnings += translate(out.config)
    out.config = {k: out.config[k] for k in sorted(out.config, key=lambda k: ORDER.index(k) if k in ORDER
                                                   else len(ORDER))}
    trial = copy.deepcopy(out.config)
    if trial["data"]["source"] == PLACEHOLDER:
        trial["data"]["source"] = "data.csv"
    try:
        validate(trial)
    except UserError as e:
        raise UserError(f"{path}: converted, but the config does not validate ({e}); the script uses something "
                        "nnctl cannot express", "SCRIPT") from None
    return out
