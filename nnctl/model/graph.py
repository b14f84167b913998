"""The graph form's model: named inputs, branches of layers joined by merge layers, one output per
target, built with Keras' functional API in the order `config.graph.order` checked.

Preprocessing layers that learn from data (Normalization, TextVectorization, ...) are adapted as
they are placed, on what reaches them from the training split; a `category` input is one-hot
encoded by a StringLookup adapted the same way. All of it is saved inside the model, so the run
predicts from raw columns.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.backend import keras
from nnctl.config import Config
from nnctl.config.graph import Branch, InputSpec, branch_layers, order
from nnctl.errors import UserError, one_line
from nnctl.model import applications, keras_names, tabular
from nnctl.model.build import Built, build, float32_output, policy_scope, safe_name, weights_fit_in_memory

ADAPT_BATCH = 256


def build_for(cfg: Config, data: Any, policy: str = "float32") -> Built:
    """The model for this data in this precision policy: the graph form's, the plain stack, or (a
    table with categorical columns) the stack behind named inputs, wired as the graph form wires them."""
    with policy_scope(policy):
        return _build_for(cfg, data)


def _build_for(cfg: Config, data: Any) -> Built:
    if cfg.graph is not None:
        return build_graph(cfg, data)
    if data.table is not None and isinstance(data.train.x, dict):
        return tabular_stack(cfg, data)
    front = tabular.front(cfg, data) if data.table is not None else []
    return Built(model=build(cfg, data.input_shape, data.input_dtype, data.train.x, front))


def build_graph(cfg: Config, data: Any) -> Built:
    k = keras()
    k.utils.set_random_seed(cfg.seed)
    if cfg.augmentation is not None:
        raise UserError("augmentation transforms the stack's one image input; in the graph form put Keras' "
                        "augmentation layers (RandomFlip, RandomRotation, ...) at the start of the image branch",
                        "augmentation")
    from nnctl.data.frames import is_table

    table = is_table(Path(cfg.data.source))  # a table's numbers may have gaps and need standardising
    inputs, outputs, _ = _wire(k, cfg.data.inputs, cfg.graph, list(cfg.data.targets), data.train.x,
                               lambda name, inner: f"layers.{name}{inner}", cfg if table else None)
    model = k.Model(inputs, outputs, name=safe_name(cfg.name or "model"))
    return Built(model=model)


def tabular_stack(cfg: Config, data: Any) -> Built:
    """The stack form on a table with category or text columns: one named input per column,
    numbers concatenated, filled and standardised, categories one-hot, text as a bag of words, all
    concatenated in front of the config's stack (key paths `layers.N` as ever)."""
    k = keras()
    k.utils.set_random_seed(cfg.seed)
    x, table = data.train.x, data.table
    inputs = {c: k.Input(shape=(1,), dtype="float32" if table.types[c] == "number" else "string",
                         name=safe_name(c)) for c in table.features}
    parts, lookups = [], {}
    numbers = table.numbers()
    if numbers:
        tensor = inputs[numbers[0]] if len(numbers) == 1 else k.layers.Concatenate(name="numbers")(
            [inputs[c] for c in numbers])
        values = np.concatenate([x[c] for c in numbers], axis=1)
        layers = tabular.number_layers(cfg, numbers, values, "numbers", cfg.layers[0])
        parts.append(tabular.apply(layers, tensor, values))
    for c in table.features:
        if table.types[c] == "category":
            parts.append(tabular.encode(k, cfg, c, InputSpec(type="category"), inputs[c], x[c], None, lookups))
        elif table.types[c] == "text":
            vectorize = k.layers.TextVectorization(max_tokens=tabular.TEXT_TOKENS, output_mode="multi_hot",
                                                   name=f"{safe_name(c)}_words")
            vectorize.adapt(x[c][:, 0])
            parts.append(vectorize(inputs[c]))
    merged = parts[0] if len(parts) == 1 else k.layers.Concatenate(name="columns")(parts)
    graph = {"output": Branch.model_validate({"from": "columns", "layers": cfg.layers})}
    outputs = branches(k, graph, {"columns": InputSpec()}, ["output"], inputs, {**inputs, "columns": merged},
                       {"columns": set(inputs)}, x, lambda name, inner: "layers")
    for col, lookup in lookups.items():
        data.categorical[col] = [str(v) for v in lookup.get_vocabulary()]
    return Built(model=k.Model(inputs, outputs["output"], name=safe_name(cfg.name or "model")))


def _wire(k: Any, specs: dict[str, InputSpec], graph: dict[str, Any], targets: list[str],
          train_x: dict[str, np.ndarray], prefix: Callable[[str, str], str], cfg: Config | None = None,
          ) -> tuple[dict, dict, dict]:
    """Inputs, branches and outputs as Keras tensors: (inputs, outputs, category lookups) by name.
    `prefix(branch, inner)` is the key path in front of a branch's entry numbers."""
    inputs: dict[str, Any] = {}
    tensors: dict[str, Any] = {}
    lookups: dict[str, Any] = {}
    needs: dict[str, set[str]] = {}  # the inputs each branch's values come from (for adapting)
    for name, spec in specs.items():
        values = train_x[name]
        text = spec.type in ("category", "text")
        inputs[name] = k.Input(shape=values.shape[1:], dtype="string" if text else "float32", name=safe_name(name))
        tensors[name], needs[name] = inputs[name], {name}
        # Categories one-hot; a table's numbers with their gaps filled and standardised.
        tensors[name] = tabular.encode(k, cfg, name, spec, inputs[name], values, graph.get(name), lookups)
    outputs = branches(k, graph, specs, targets, inputs, tensors, needs, train_x, prefix)
    return inputs, outputs, lookups


def branches(k: Any, graph: dict[str, Any], specs: dict[str, Any], targets: list[str], inputs: dict[str, Any],
             tensors: dict[str, Any], needs: dict[str, set[str]], train_x: dict[str, np.ndarray],
             prefix: Callable[[str, str], str]) -> dict[str, Any]:
    """Each branch's layers on what it starts from, in dependency order: the outputs' tensors by name."""
    for name in order(graph, specs, dict.fromkeys(targets)):
        branch = graph[name]
        stack, inner = branch_layers(branch)
        where = prefix(name, inner)
        if isinstance(branch, Branch):
            sources = branch.sources()
            needs[name] = set().union(*(needs[s] for s in sources))
            tensor = _merge(k, branch, [tensors[s] for s in sources], sources, where.removesuffix(".layers"))
        else:
            tensor = tensors[name]
        if not stack and name in targets:
            raise UserError("an output branch needs layers ending in its output layer", where)
        for i, entry in enumerate(stack):
            key = f"{where}.{i}"
            layer_name, value = keras_names.layer_entry(entry)
            shape = tuple(tensor.shape)
            new = (applications.layers(layer_name, value, shape, f"{key}.{layer_name}")
                   if applications.is_application(layer_name) else [keras_names.make_layer(entry, key)])
            if i == 0 and tensor.dtype == "string" and not _takes_strings(k, new[0]) and name in specs:
                raise UserError("this input is raw text: start its branch with a TextVectorization layer, e.g. "
                                "- TextVectorization: {max_tokens: 20000, output_sequence_length: 200}", key)
            for j, layer in enumerate(new):
                if (name in targets and i == len(stack) - 1 and j == len(new) - 1) or hasattr(layer, "adapt"):
                    float32_output(k, layer)
                if hasattr(layer, "adapt"):
                    layer.adapt(_values(k, inputs, needs[name], tensor, train_x))
                try:
                    with weights_fit_in_memory():
                        tensor = layer(tensor)
                except UserError:
                    raise
                except Exception as e:  # noqa: BLE001  (Keras raises many types for a bad shape)
                    raise UserError(f"{layer_name} does not fit its input of shape {shape}: {one_line(e)}",
                                    f"{key}.{layer_name}") from None
                shape = tuple(tensor.shape)
        tensors[name] = tensor
    return {name: tensors[name] for name in targets}


def _merge(k: Any, branch: Branch, tensors: list[Any], sources: list[str], key: str) -> Any:
    if len(tensors) == 1:
        return tensors[0]
    entry = branch.merge
    name, _ = keras_names.layer_entry(entry)
    layer = keras_names.make_layer(entry, f"{key}.merge")
    shapes = ", ".join(f"{s} {list(t.shape[1:])}" for s, t in zip(sources, tensors, strict=True))
    try:
        return layer(tensors)
    except Exception as e:  # noqa: BLE001
        hint = ("Concatenate joins shapes that differ only in the last axis" if name == "Concatenate" else
                f"{name} needs the same shape from every branch")
        raise UserError(f"{name} cannot merge {shapes}: {hint} ({one_line(e)[:160]})", f"{key}.merge") from None


def _values(k: Any, inputs: dict[str, Any], needed: set[str], tensor: Any, train_x: dict[str, np.ndarray]) -> Any:
    """What reaches `tensor` from the training split: the inputs themselves, or through the layers so far."""
    from nnctl.data import pipeline

    if len(needed) == 1 and tensor is inputs[next(iter(needed))]:
        return train_x[next(iter(needed))]
    names = sorted(needed)
    sub = k.Model({n: inputs[n] for n in names}, tensor)
    return pipeline.predict(sub, {n: train_x[n] for n in names}, ADAPT_BATCH)


def _takes_strings(k: Any, layer: Any) -> bool:
    return isinstance(layer, (k.layers.TextVectorization, k.layers.StringLookup, k.layers.Hashing))
