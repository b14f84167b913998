"""`nnctl init --data FILE.csv` for a CSV that mixes numbers with text or image-path columns: a
graph-form starter (one branch per kind of input, a shared trunk, the last column as the output).

Columns are read as training reads them: numeric columns are numbers; strings that name image
files (relative to the CSV) are images; strings with several words in most rows, or mostly
distinct, are text; other strings are categories.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from nnctl import data as data_mod
from nnctl.config import Config
from nnctl.model import tasks


def column_kinds(df: Any) -> dict[str, str]:
    """Each column's type as training infers it (data.profile); ID-like columns are left out, the
    last column (the target) never."""
    from nnctl.data import profile

    kinds = {c: profile.infer(df[c])[0] for c in df.columns[:-1]}
    return {**{c: k for c, k in kinds.items() if k != "id"}, df.columns[-1]: "number"}


def wants_graph(kinds: dict[str, str]) -> bool:
    """Text or images among the features, beside other columns: one stack cannot read them together."""
    features = list(kinds.values())[:-1]
    return any(k in ("text", "image") for k in features) and len(features) > 1


def _name(column: str) -> str:
    return re.sub(r"\W", "_", column).strip("_") or "input"


def graph_config(source: str, kinds: dict[str, str], config_dir: Path | None, task: str | None) -> dict[str, Any]:
    *features, target = kinds
    inputs: dict[str, Any] = {}
    numbers = [c for c in features if kinds[c] == "number"]
    if numbers:
        inputs["numbers"] = {"columns": numbers}
    for c in features:
        if kinds[c] != "number":
            inputs[_name(c)] = {"column": c, "type": kinds[c]} | (
                {"image_size": [64, 64]} if kinds[c] == "image" else {})
    out = _name(target)
    if out in inputs:
        out = f"{out}_out"
    spec = {"source": source, "inputs": inputs, "targets": {out: {"column": target}}}
    branches: dict[str, Any] = {}
    for name, inp in inputs.items():
        kind = inp.get("type", "number")
        if kind == "number":
            branches[name] = ["Normalization", {"Dense": {"units": 32, "activation": "relu"}}]
        elif kind == "text":
            branches[name] = [{"TextVectorization": {"max_tokens": 5000, "output_sequence_length": 20}},
                              {"Embedding": {"input_dim": 5000, "output_dim": 16}}, "GlobalAveragePooling1D"]
        elif kind == "image":
            branches[name] = [{"Conv2D": {"filters": 16, "kernel_size": 3, "activation": "relu"}}, {"MaxPooling2D": 2},
                              {"Conv2D": {"filters": 32, "kernel_size": 3, "activation": "relu"}},
                              "GlobalAveragePooling2D"]
    # Probe the target's kind as training will read it (the whole CSV is loaded once, images too).
    probe = Config.model_validate({"data": spec, "layers": {**branches, out: {"from": list(inputs), "layers": []}}})
    data = data_mod.load(probe, config_dir)
    labels = tasks.Labels.of(data.train.y[out])
    task = task or ("regression" if data.outputs[out]["regression"] or labels.kind == "continuous"
                    else "classification")
    units = 1 if task == "binary" else max(labels.n_outputs, 1)
    head = {"classification": {"units": units, "activation": "softmax"},
            "binary": {"units": 1, "activation": "sigmoid"},
            "multilabel": {"units": units, "activation": "sigmoid"}, "regression": {"units": units}}[task]
    spec["targets"][out]["task"] = task
    branches["trunk"] = {"from": list(inputs), "layers": [{"Dense": {"units": 64, "activation": "relu"}},
                                                           {"Dropout": 0.2}]}
    branches[out] = {"from": "trunk", "layers": [{"Dense": head}]}
    return {"data": {**spec, "validation_split": 0.1, "test_split": 0.2}, "layers": branches,
            "loss": {out: tasks.default_loss(task, labels)}, "task_": task, "data_": data}
