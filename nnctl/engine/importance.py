"""Permutation importance: how much the validation loss grows when one input column's values are
shuffled among the rows (the model sees that column as noise). Tables and other named inputs only;
validation, never test, so the report can be read before deciding anything on test."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl.data import Split, pipeline

ROWS = 2000  # rows of the validation split scored: enough for a stable ranking, cheap on wide tables
COLUMNS = 60  # at most this many inputs scored, in the model's order


def permutation(model: Any, val: Split | None, batch_size: int, seed: int,
                columns: list[str] | None = None) -> dict[str, Any] | None:
    """{"metric": "loss", "split": "validation", "rows", "base", "columns": [{column, increase}, ...]}
    sorted by increase; None without a validation split of named inputs in memory. `columns`: the
    names of a numeric table's columns, where the split holds them as one matrix."""
    if val is None or val.streamed or len(val) < 2:
        return None
    named = isinstance(val.x, dict)
    if not named and not (isinstance(val.x, np.ndarray) and val.x.ndim == 2 and columns
                          and len(columns) == val.x.shape[1]):
        return None
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(val), size=min(len(val), ROWS), replace=False))
    split = val.take(rows)

    def loss(x: dict[str, Any]) -> float:
        logs = model.evaluate(pipeline.dataset(Split(x, split.y), batch_size), verbose=0, return_dict=True)
        return float(logs["loss"])

    base = loss(split.x)
    out = []
    for j, name in enumerate(list(split.x) if named else columns or []):
        if j == COLUMNS:
            break
        order = rng.permutation(len(rows))
        if named:
            shuffled = {**split.x, name: split.x[name][order]}
        else:
            shuffled = split.x.copy()
            shuffled[:, j] = split.x[order, j]
        out.append({"column": name, "increase": loss(shuffled) - base})
    out.sort(key=lambda c: -c["increase"])
    return {"metric": "loss", "split": "validation", "rows": len(rows), "base": base, "columns": out}
