"""Cross-validation folds of the training data (`data.folds: K`, `data.fold: i`): the test split
is held out first and never folded; fold i of K is the validation split of fold run i.

Classifier labels are folded stratified (scikit-learn's StratifiedKFold, seeded), time series
in contiguous blocks in time order (KFold without shuffling), anything else shuffled (KFold, seeded).
"""

from __future__ import annotations

import numpy as np

from nnctl.data.splits import Split
from nnctl.errors import UserError


def fold(whole: Split, folds: int, index: int, seed: int, stratify: bool, chronological: bool) -> tuple[Split, Split]:
    """(training part, validation part) of fold `index` (1-based) of `folds`."""
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(whole)
    if not 2 <= folds <= n:
        raise UserError(f"bad value {folds}: between 2 and the {n} training examples", "data.folds")
    if not 1 <= index <= folds:
        raise UserError(f"bad value {index}: folds are numbered 1 to {folds}", "data.fold")
    y = whole.y
    labels = None
    if stratify and not chronological and not isinstance(y, dict):
        y = np.asarray(y)
        if y.ndim == 1 and y.dtype.kind in "iu" and np.bincount(y).max() > 0 and \
                np.bincount(y)[np.bincount(y) > 0].min() >= folds:
            labels = y
    if chronological or whole.streamed:
        splitter = KFold(folds, shuffle=False)
    elif labels is not None:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    else:
        splitter = KFold(folds, shuffle=True, random_state=seed)
    keep, hold = list(splitter.split(np.zeros(n), labels))[index - 1]
    return whole.take(np.sort(keep)), whole.take(np.sort(hold))
