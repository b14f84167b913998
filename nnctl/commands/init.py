"""`nnctl init`: a commented starter config, shaped by the data it will train on.

The data is loaded once (as training would) to learn the input shape, the kind of
inputs (images, text, sequences, table) and the number of classes or targets, so the
written config validates and trains as it stands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from nnctl import data as data_mod
from nnctl.commands import init_graph
from nnctl.config import Config, dump_yaml
from nnctl.data.frames import is_table
from nnctl.errors import UserError
from nnctl.model import tasks

DEFAULT_DATA = {"classification": "digits", "binary": "breast_cancer", "regression": "diabetes"}


def starter(task: str | None, source: str | None, config_dir: Path | None = None) -> str:
    if source is None:
        if task == "multilabel":
            raise UserError("a multi-label starter needs your data: --data PATH.csv (a list column like a|b, "
                            "or several 0/1 columns, as data.target)", "--data")
        source = DEFAULT_DATA[task or "classification"]
    spec: dict[str, Any] = {"source": source}
    if is_table(Path(source)):  # the last column is the usual place for the label
        kinds = _column_kinds(source, config_dir)
        if init_graph.wants_graph(kinds):
            return _graph(source, kinds, config_dir, task)
        spec["target"] = next(reversed(kinds))
    probe = Config.model_validate({"data": spec, "layers": ["Flatten"]})
    data = data_mod.load(probe, config_dir)
    labels = tasks.Labels.of(data.train.y)
    task = task or ("regression" if data.regression or labels.kind == "continuous" else
                    "multilabel" if labels.kind == "multihot" else "classification")
    units = 1 if task == "binary" else max(labels.n_outputs, 1)
    out = {"classification": {"units": units, "activation": "softmax"},
           "binary": {"units": 1, "activation": "sigmoid"},
           "multilabel": {"units": units, "activation": "sigmoid"},
           "regression": {"units": units}}[task]
    shape = list(data.input_shape)
    input_shape = None
    if data.input_dtype == "string":
        kind, layers = "text", [
            {"TextVectorization": {"max_tokens": 20000, "output_sequence_length": 200}},
            {"Embedding": {"input_dim": 20000, "output_dim": 32}}, "GlobalAveragePooling1D",
            {"Dense": {"units": 16, "activation": "relu"}}]
    elif len(shape) in (2, 3) and _images(data):
        kind = "images"
        if len(shape) == 2:
            input_shape = [*shape, 1]  # grey images: a channel axis for Conv2D
        layers = [{"Conv2D": {"filters": 32, "kernel_size": 3, "activation": "relu"}}, {"MaxPooling2D": 2},
                  {"Conv2D": {"filters": 64, "kernel_size": 3, "activation": "relu", "padding": "same"}},
                  {"MaxPooling2D": 2}, "Flatten", {"Dropout": 0.3}]
    elif len(shape) == 2:
        kind, layers = "sequences", [{"LSTM": 32}]
    else:
        kind = "a table"
        layers = ([] if data.categorical else ["Normalization"]) + [
            {"Dense": {"units": 64, "activation": "relu"}}, {"Dropout": 0.2},
            {"Dense": {"units": 32, "activation": "relu"}}]
    layers.append({"Dense": out})
    loss = tasks.default_loss(task, labels)
    config: dict[str, Any] = {
        "name": Path(source).stem if source not in DEFAULT_DATA.values() else source.replace("_", "-"),
        "seed": 42,
        "task": task,
        "data": {**spec, "validation_split": 0.1, "test_split": 0.2},
        **({"input_shape": input_shape} if input_shape else {}),
        "layers": layers,
        "loss": loss,
        "optimizer": {"name": "adam", "learning_rate": 0.001},
        "batch_size": 32,
        "epochs": 20,
        "early_stopping": {"monitor": "val_loss", "patience": 3},
    }
    return _commented(config, kind, data, task)


def _column_kinds(source: str, config_dir: Path | None) -> dict[str, str]:
    """Each column's kind (number, category, text, image), in file order: the last is the target."""
    from nnctl.data import frames
    from nnctl.data.paths import resolve_path

    df = frames.read(resolve_path(source, "--data", config_dir), "--data")
    if len(df.columns) < 2:
        raise UserError(f"{source} needs feature columns and a target column", "--data")
    return init_graph.column_kinds(df)


def _graph(source: str, kinds: dict[str, str], config_dir: Path | None, task: str | None) -> str:
    """The graph form for a CSV of mixed columns: a branch per kind of input, one trunk, one head."""
    found = init_graph.graph_config(source, kinds, config_dir, task)
    task, data = found.pop("task_"), found.pop("data_")
    config = {"name": Path(source).stem, "seed": 42, **found, "optimizer": {"name": "adam", "learning_rate": 0.001},
              "batch_size": 32, "epochs": 20, "early_stopping": {"monitor": "val_loss", "patience": 3}}
    features = list(kinds)[:-1]
    mixed = ", ".join(f"{k} {', '.join(c for c in features if kinds[c] == k)}"
                      for k in dict.fromkeys(kinds[c] for c in features))
    return _commented(config, f"mixed columns ({mixed}), the graph form", data, task)


def _images(data: Any) -> bool:
    """Images: 2-D examples of 8+ pixels a side, or 3-D with 1, 3 or 4 channels."""
    shape = data.input_shape
    if len(shape) == 3:
        return shape[-1] in (1, 3, 4)
    return min(shape) >= 8 and not data.categorical


NOTES = {
    "name": "run-name prefix: runs/<name>-<date>-<time>/",
    "seed": "same config + same seed => same metrics",
    "task": "classification | binary | multilabel | regression",
    "data": "a built-in name or a path (a CSV's target: its label column); validation/test held out, seeded",
    "input_shape": "grey images get a channel axis for Conv2D",
    "layers": "any keras.layers class by name, first to last; the last fits the task (or named branches: "
              "a list starts from the input of its name, {from: [...]} merges, a target's branch is its output)",
    "loss": "inferred from task and labels when left out",
    "optimizer": "sgd (momentum, nesterov), adagrad, adadelta, rmsprop, adam, ...",
    "batch_size": "examples per gradient step",
    "epochs": "passes over the training split; nnctl train --resume RUN --epochs N trains longer",
    "early_stopping": "stop when val_loss has not improved for `patience` epochs; keep the best weights",
}


def _shapes(data: Any) -> str:
    """`[28, 28, 1]`, or for named inputs `numbers [6], name [1]`."""
    if data.input_shapes:
        return ", ".join(f"{k} [{', '.join(map(str, v))}]" for k, v in data.input_shapes.items())
    return f"[{', '.join(map(str, data.input_shape))}]"


def _commented(config: dict[str, Any], kind: str, data: Any, task: str) -> str:
    head = [
        "# yaml-language-server: $schema=nnctl.schema.json",
        "# (write the schema beside this file for completion in your editor: nnctl schema -o nnctl.schema.json)",
        f"# A starter {task} config for {data.name}: {kind}, input shape{'s' if data.input_shapes else ''} "
        f"{_shapes(data)}, "
        f"{len(data.train)} training examples.",
        "# Check it:  nnctl validate THIS.yaml     Train it:  nnctl train THIS.yaml",
        "",
    ]
    body = []
    for key, value in config.items():
        if key in NOTES:
            body.append(f"# {NOTES[key]}")
        if isinstance(value, (dict, list)):
            body.append(dump_yaml({key: value}).rstrip("\n"))
        else:
            body.append(f"{key}: {yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}")
    return "\n".join(head + body) + "\n"
