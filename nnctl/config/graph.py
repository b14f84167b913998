"""The graph form of a config: named inputs and targets in `data:`, `layers:` as a mapping of
named branches, and per-output loss, loss weights and metrics.

The structure is checked here, before TensorFlow loads: every name a branch starts from exists,
there is no cycle, every input is used, every target has a branch and every branch reaches an
output. Shapes (a merge of incompatible branches) are Keras' to check, in `model.graph`.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nnctl.choices import TASKS
from nnctl.errors import UserError, did_you_mean

INPUT_TYPES = ("number", "category", "text", "image")


class _Strict(BaseModel):
    # `from` is a Python keyword: the field is from_, read and written as `from`.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class _Columns(_Strict):
    # A CSV column, several numeric columns, or an .npz array by name (default: the entry's name).
    column: str | None = None
    columns: list[str] | None = Field(None, min_length=1)
    array: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> _Columns:
        given = [k for k in ("column", "columns", "array") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of column, columns or array, not {' and '.join(given)}")
        return self


class InputSpec(_Columns):
    type: Literal[INPUT_TYPES] = "number"
    image_size: list[int] | None = Field(None, min_length=2, max_length=2)  # [height, width]
    color_mode: Literal["grayscale", "rgb", "rgba"] = "rgb"

    @model_validator(mode="after")
    def _typed(self) -> InputSpec:
        if self.type in ("category", "text", "image") and self.columns is not None:
            raise ValueError(f"a {self.type} input reads one column: use column, not columns")
        return self


class TargetSpec(_Columns):
    task: Literal[TASKS] | None = None  # inferred from the values, as for a single target


LayerList = list[Union[str, dict[str, Any]]]


class Branch(_Strict):
    """`{from: NAME or [NAMES], merge: LAYER, layers: [...]}`: joins branches (or inputs)."""

    from_: str | list[str] = Field(alias="from")
    merge: Union[str, dict[str, Any]] = "Concatenate"
    layers: LayerList = Field(default_factory=list)

    def sources(self) -> list[str]:
        return [self.from_] if isinstance(self.from_, str) else list(self.from_)


Graph = dict[str, Union[LayerList, Branch]]


def branch_layers(branch: LayerList | Branch) -> tuple[LayerList, str]:
    """A branch's layer entries and the key path prefix of its entry N (`layers.NAME[.layers]`)."""
    return (branch.layers, ".layers") if isinstance(branch, Branch) else (branch, "")


def order(graph: Graph, inputs: dict[str, Any] | None, targets: dict[str, Any] | None) -> list[str]:
    """The branches in an order where each comes after what it starts from; every mistake in the
    structure is a UserError with its key path."""
    if not inputs or not targets:
        missing = "data.inputs" if not inputs else "data.targets"
        raise UserError("layers as a mapping of named branches needs named inputs and targets in data: e.g. "
                        "inputs: {specs: {columns: [a, b]}}, targets: {mpg: {column: mpg}}", missing)
    for name in targets:
        if name in inputs:
            raise UserError(f"{name!r} is both an input and a target; give them different names",
                            f"data.targets.{name}")
    names = list(dict.fromkeys([*inputs, *graph]))
    for name, branch in graph.items():
        if isinstance(branch, Branch):
            if len(branch.sources()) == 0:
                raise UserError("from: names no branch; give one name or a list", f"layers.{name}.from")
            for src in branch.sources():
                if src not in names:
                    allowed = [n for n in names if n != name]
                    raise UserError(f"unknown branch or input {src!r}{did_you_mean(src, allowed)}; "
                                    f"allowed: {', '.join(allowed)}", f"layers.{name}.from")
                if src in targets and src not in graph:
                    raise UserError(f"{src!r} is a target without a branch", f"layers.{name}.from")
        elif name not in inputs:
            raise UserError(f"a list of layers starts from the input of the same name, and there is no input "
                            f"{name!r}{did_you_mean(name, list(inputs))} (inputs: {', '.join(inputs)}); "
                            f"to start from other branches write {{from: [...], layers: [...]}}", f"layers.{name}")
    for name in targets:
        if name not in graph:
            raise UserError(f"the target {name!r} has no branch; add layers.{name}: {{from: ..., layers: "
                            "[...]}} ending in its output layer", "layers")
    done: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in done or name not in graph:
            return
        if name in visiting:
            cycle = [*visiting[visiting.index(name):], name]
            raise UserError(f"a cycle: {' -> '.join(reversed(cycle))}; branches must flow from inputs to "
                            "outputs", f"layers.{name}.from")
        visiting.append(name)
        branch = graph[name]
        for src in branch.sources() if isinstance(branch, Branch) else []:
            visit(src)
        visiting.pop()
        done.append(name)

    for name in graph:
        visit(name)
    used = {s for b in graph.values() if isinstance(b, Branch) for s in b.sources()}
    for name in inputs:
        if name not in graph and name not in used:
            raise UserError(f"the input {name!r} is not used: no branch is named after it or starts from it",
                            f"data.inputs.{name}")
    for name in graph:
        if name not in targets and name not in used:
            raise UserError(f"the branch {name!r} reaches no output (targets: {', '.join(targets)}); "
                            "use it in a from: or remove it", f"layers.{name}")
    return done


def per_output(value: Any, outputs: list[str], key: str) -> dict[str, Any] | None:
    """A mapping keyed by output (loss, loss_weights, metrics), checked; None if not keyed so."""
    if not isinstance(value, dict) or "name" in value:
        return None
    for name in value:
        if name not in outputs:
            raise UserError(f"{name!r} is not an output{did_you_mean(str(name), outputs)}; outputs: "
                            f"{', '.join(outputs)}", f"{key}.{name}")
    return value
