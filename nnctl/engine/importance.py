"""Permutation importance: how much the validation loss grows when one input column's values are
shuffled among the rows (the model sees that column as noise). Tables and other named inputs only;
validation, never test, so the report can be read before deciding anything on test."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl.data import Split, pipeline
from nnctl.engine import evaluation

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
    names, variants = [], [split.x]
    for j, name in enumerate(list(split.x) if named else columns or []):
        if j == COLUMNS:
            break
        order = rng.permutation(len(rows))
        if named:
            shuffled = {**split.x, name: split.x[name][order]}
        else:
            shuffled = split.x.copy()
            shuffled[:, j] = split.x[order, j]
        names.append(name)
        variants.append(shuffled)
    # Every variant through one traced step, a variant a batch, scored with the model's loss as
    # evaluate computes it (from the softmax's logits, where it has them): a model.evaluate per column
    # made a dataset, an iterator and Keras' set-up each time, 60 ms a column for a small table.
    together = ({k: np.concatenate([v[k] for v in variants]) for k in split.x} if named
                else np.concatenate(variants))
    labels = _tiled(split.y, len(variants))
    batches = pipeline.dataset(Split(together, labels), len(rows))
    compiled = evaluation.step(model, batches.element_spec)  # the test pass's trace, when the signature is its
    base, *losses = (float(compiled(x, y)[1]) for x, y in batches)
    model.reset_metrics()
    out = [{"column": name, "increase": loss - base} for name, loss in zip(names, losses, strict=True)]
    out.sort(key=lambda c: -c["increase"])
    return {"metric": "loss", "split": "validation", "rows": len(rows), "base": base, "columns": out}


def _tiled(y: Any, times: int) -> Any:
    """Labels (an array, or a mapping of them) repeated `times` over."""
    if isinstance(y, dict):
        return {k: np.concatenate([v] * times) for k, v in y.items()}
    return np.concatenate([y] * times)
