"""Held-out parts of a split: seeded, stratified by class where the labels allow, or the last
examples in time order (time series, streamed files). The test split is held out first, then
validation (or a cross-validation fold, data/folds.py), then `data.fraction` keeps a share of each."""

from __future__ import annotations

import numpy as np

from nnctl.data.splits import Split
from nnctl.errors import UserError


def split(whole: Split, fraction: float, seed: int, stratify: bool, chronological: bool) -> tuple[Split, Split]:
    """Hold out `fraction` of the examples: seeded and stratified, or the last ones in time order."""
    n = len(whole)
    n_hold = int(round(n * fraction))
    if n_hold < 1 or n_hold >= n:
        raise UserError(f"a split of {fraction} of {n} examples leaves one side empty", "data")
    if chronological or whole.streamed:
        # Time series must not leak the future; streamed files split into row ranges, never copied.
        return whole.take(slice(0, n - n_hold)), whole.take(slice(n - n_hold, n))
    from sklearn.model_selection import train_test_split

    y = whole.y
    if isinstance(y, dict):
        y = next((v for v in y.values() if np.asarray(v).ndim == 1 and np.asarray(v).dtype.kind in "iu"), None)
    strat = y if stratify and y is not None and stratifiable(y, n_hold) else None
    keep, hold = train_test_split(np.arange(n), test_size=n_hold, random_state=seed, stratify=strat)
    return whole.take(np.sort(keep)), whole.take(np.sort(hold))


def share(whole: Split, fraction: float, seed: int, stratify: bool, chronological: bool) -> Split:
    if round(len(whole) * fraction) >= len(whole):
        return whole
    if round(len(whole) * fraction) < 1:
        raise UserError(f"bad value {fraction}: it leaves no example of a split of {len(whole)}", "data.fraction")
    return split(whole, fraction, seed, stratify, chronological)[1]


def stratifiable(y: np.ndarray, n_hold: int) -> bool:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        return False
    _, counts = np.unique(y, return_counts=True)
    return counts.min() >= 2 and n_hold >= len(counts) and len(y) - n_hold >= len(counts)
