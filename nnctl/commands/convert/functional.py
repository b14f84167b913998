"""A functional model (`Input`, layer calls, merges, `Model(inputs, outputs)`) as a config: a
single chain from one input to one output is a stack; anything else is the graph form's named
branches, each input and output a branch of its own name."""

from __future__ import annotations

from typing import Any

from nnctl.commands.convert.parts import Model, Tensor
from nnctl.commands.convert.values import Unknown


def chain(model: Model) -> tuple[list[int] | None, list[Any]] | None:
    """(input shape, layers) where the model is one chain of single-input layers; else None."""
    if len(model.inputs or []) != 1 or len(model.outputs or []) != 1:
        return None
    t, layers = model.outputs[0], []
    while t.kind == "layer" and len(t.parents) == 1:
        layers.append(t.layer)
        t = t.parents[0]
    if t is not model.inputs[0]:
        return None
    return t.layer, layers[::-1]


def graph(model: Model) -> tuple[dict[str, Any], list[str], list[str]]:
    """(layers as named branches, input names, output names)."""
    order: list[Tensor] = []
    seen: set[int] = set()

    def visit(t: Tensor) -> None:
        if id(t) in seen:
            return
        seen.add(id(t))
        for p in t.parents:
            visit(p)
        order.append(t)

    for out in model.outputs or []:
        visit(out)
    children: dict[int, int] = {}
    for t in order:
        for p in t.parents:
            children[id(p)] = children.get(id(p), 0) + 1
    ends = {id(o) for o in model.outputs or []}
    branches: dict[str, Any] = {}
    branch_of: dict[int, str] = {}
    tail: dict[str, int] = {}
    inputs = []

    def new(name: str | None, start: list[str] | None) -> str:
        base = name or "branch"
        name = base
        n = 2
        while name in branches or name in inputs:
            name, n = f"{base}_{n}", n + 1
        branches[name] = {"from": start, "layers": []}
        return name

    for t in order:
        if t.kind == "input":
            name = t.name or "input"
            if name in inputs:
                raise Unknown(f"two inputs named {name}")
            inputs.append(name)
            branch_of[id(t)] = tail_name = name
            tail[tail_name] = id(t)
            continue
        sources = [branch_of[id(p)] for p in t.parents]
        if t.kind == "merge" or len(t.parents) > 1:
            merge = t.layer if t.kind == "merge" else t.layer
            b = new(t.name, sources)
            if merge != "Concatenate":
                branches[b]["merge"] = merge
        else:
            p = t.parents[0]
            pb = branch_of[id(p)]
            continues = pb in branches and tail.get(pb) == id(p) and children.get(id(p), 0) == 1 and id(p) not in ends
            b = pb if continues else new(t.name, [pb])
            branches[b]["layers"].append(t.layer)
        branch_of[id(t)] = b
        tail[b] = id(t)
    outputs = []
    for out in model.outputs or []:
        b = branch_of[id(out)]
        name = out.name or b
        if name != b and name not in branches:
            branches[name] = branches.pop(b)
            for other in branches.values():
                other["from"] = [name if s == b else s for s in other["from"] or []] or None
        outputs.append(name if name in branches else b)
    layers = {}
    for name, b in branches.items():
        if b["from"] is None:
            layers[name] = b["layers"]
        else:
            entry: dict[str, Any] = {"from": b["from"][0] if len(b["from"]) == 1 else b["from"]}
            if "merge" in b:
                entry["merge"] = b["merge"]
            entry["layers"] = b["layers"]
            layers[name] = entry
    return layers, inputs, outputs
