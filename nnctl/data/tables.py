"""CSV files: tabular rows, time-series windows, and text for classification.

The functions that turn a table's rows into model inputs (`text_inputs`, `tabular_inputs`,
`window_features`, `windows`) are the ones `nnctl predict` applies to new rows too
(`nnctl.data.inputs`), so that both see the same features for the same rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnctl.config import DataSpec
from nnctl.data.splits import Loaded, encode_labels, should_stream
from nnctl.data.stream import CsvRows
from nnctl.errors import UserError, did_you_mean, one_line

LIST_SEPARATORS = ("|", ";")


def load(path: Path, spec: DataSpec, key: str) -> Loaded:
    if spec.sequence_length is None and spec.text is None and should_stream(path, spec):
        return _streamed(path, spec, key)
    df = read(path, key)
    targets = _targets(spec, list(df.columns), path, key)
    if spec.sequence_length is not None:
        return _windows(df, spec, targets, path, key)
    y, names, regression = _labels(df, targets)
    if spec.text is not None:
        _columns([spec.text], list(df.columns), path, "data.text")
        return Loaded(x=text_inputs(df, spec.text), y=y, name=path.stem, source=str(path), class_names=names,
                      regression=regression, input_dtype="string")
    features = feature_columns(spec, list(df.columns), targets)
    _columns(features, list(df.columns), path, "data.features")
    if not features:
        raise UserError(f"{path}: no feature columns left besides the target", "data.features")
    numeric = [c for c in features if df[c].dtype.kind in "biuf"]
    categorical = [c for c in features if c not in numeric]
    for c in numeric:
        if df[c].isna().any():
            row = int(df[c].isna().to_numpy().argmax()) + 2  # 1-based, after the header line
            raise UserError(f"{path}: column {c!r} has a missing value (line {row}); fill or drop it", key)
    x = tabular_inputs(df, features)
    return Loaded(x=x, y=y, name=path.stem, source=str(path), class_names=names, regression=regression,
                  categorical={c: [] for c in categorical})


def feature_columns(spec: DataSpec, columns: list[str], targets: list[str]) -> list[str]:
    """data.features, else every column but the targets."""
    return spec.features or [c for c in columns if c not in targets]


def text_inputs(df, column: str) -> np.ndarray:  # noqa: ANN001
    """A text column as one string per row (missing: empty), shape (rows, 1)."""
    return df[column].fillna("").astype(str).to_numpy(dtype=str).reshape(-1, 1)


def tabular_inputs(df, features: list[str]) -> np.ndarray | dict[str, np.ndarray]:  # noqa: ANN001
    """Numeric columns as one float32 matrix; with any categorical column, a dict of named
    (rows, 1) inputs instead: the model one-hot encodes the categorical ones with StringLookup
    layers adapted on the training split and saved inside the model."""
    numeric = [c for c in features if df[c].dtype.kind in "biuf"]
    if len(numeric) == len(features):
        return df[features].to_numpy(dtype="float32")
    return {c: (df[c].to_numpy(dtype="float32") if c in numeric else df[c].fillna("").astype(str)
                .to_numpy(dtype=str)).reshape(-1, 1) for c in features}


def window_features(df, spec: DataSpec) -> list[str]:  # noqa: ANN001
    """A time series' input columns: data.features, else every numeric column."""
    return spec.features or [c for c in df.columns if df[c].dtype.kind in "biuf"]


def windows(values: np.ndarray, length: int, count: int) -> np.ndarray:
    """The first `count` windows of `length` consecutive rows: shape (count, length, columns)."""
    view = np.lib.stride_tricks.sliding_window_view(values, (length, values.shape[1]))[:count, 0]
    return np.ascontiguousarray(view)


def read(path: Path, key: str):  # noqa: ANN201  (a pandas DataFrame)
    import pandas as pd

    sep = "\t" if ".tsv" in path.name.lower() else ","
    try:
        df = pd.read_csv(path, sep=sep)
    except pd.errors.ParserError as e:
        raise UserError(f"{path}: ragged rows: {one_line(e)}", key) from None
    except (pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        raise UserError(f"{path}: cannot read as CSV: {one_line(e)}", key) from None
    if df.empty:
        raise UserError(f"{path}: no data rows", key)
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _columns(wanted: list[str], have: list[str], path: Path, key: str) -> None:
    for c in wanted:
        if c not in have:
            raise UserError(f"{path} has no column {c!r}{did_you_mean(c, have)}; columns: {', '.join(have)}", key)


def _targets(spec: DataSpec, have: list[str], path: Path, key: str) -> list[str]:
    if spec.target is None:
        raise UserError(f"a CSV source needs data.target: the label column(s) of {path.name}; "
                        f"columns: {', '.join(have)}", "data.target")
    targets = [spec.target] if isinstance(spec.target, str) else list(spec.target)
    _columns(targets, have, path, "data.target")
    return targets


def _labels(df, targets: list[str]) -> tuple[np.ndarray, list[str] | None, bool]:  # noqa: ANN001
    """(labels, class names, regression?) from one column or several."""
    if len(targets) > 1:
        y = df[targets].to_numpy(dtype="float32")
        integral = bool(np.all(np.isin(y, (0.0, 1.0))))
        return y, (targets if integral else None), not integral
    col = df[targets[0]]
    if col.dtype.kind == "f" and not np.all(np.mod(col.dropna(), 1) == 0):
        return col.to_numpy(dtype="float32"), None, True
    if col.dtype.kind in "biu":
        return col.to_numpy(dtype="int64"), None, False
    values = col.fillna("").astype(str)
    if any(values.str.contains(sep, regex=False).any() for sep in LIST_SEPARATORS):
        return _multi_hot(values.tolist())
    y, names = encode_labels(values.to_numpy())
    return y, names, False


def _multi_hot(values: list[str]) -> tuple[np.ndarray, list[str], bool]:
    """A list column (`cat|dog`, `[cat; dog]`) -> one 0/1 column per tag."""
    def tags(v: str) -> list[str]:
        v = v.strip().strip("[]")
        for sep in LIST_SEPARATORS:
            v = v.replace(sep, "\0")
        return [t.strip().strip("'\"") for t in v.split("\0") if t.strip()]

    rows = [tags(v) for v in values]
    names = sorted({t for r in rows for t in r})
    index = {t: i for i, t in enumerate(names)}
    y = np.zeros((len(rows), len(names)), dtype="float32")
    for i, r in enumerate(rows):
        y[i, [index[t] for t in r]] = 1.0
    return y, names, False


def _windows(df, spec: DataSpec, targets: list[str], path: Path, key: str) -> Loaded:  # noqa: ANN001
    """Sliding windows of `sequence_length` rows; the target `horizon` steps after each window."""
    features = window_features(df, spec)
    _columns(features, list(df.columns), path, "data.features")
    bad = [c for c in [*features, *targets] if df[c].dtype.kind not in "biuf"]
    if bad:
        raise UserError(f"{path}: time-series columns must be numeric; {', '.join(bad)} are not "
                        "(list the numeric ones in data.features)", key)
    values = df[features].to_numpy(dtype="float32")
    target = df[targets].to_numpy(dtype="float32")
    if np.isnan(values).any() or np.isnan(target).any():
        raise UserError(f"{path}: missing values in the time series; fill or drop them", key)
    length, horizon, steps = spec.sequence_length or 1, spec.horizon, spec.output_steps or 1
    n = len(values) - length - horizon - steps + 2
    if n < 2:
        ahead = f"horizon {horizon}" + (f" and output_steps {steps}" if spec.output_steps else "")
        raise UserError(f"{path}: {len(values)} rows make no windows of sequence_length {length} "
                        f"with {ahead}", "data.sequence_length")
    first = length + horizon - 1  # the row of the (first) value each window predicts
    if spec.output_steps is None:
        y = target[first:first + n]  # (n, k)
    else:  # the next `steps` values of each target: (n, steps, k)
        y = np.stack([target[first + s:first + s + n] for s in range(steps)], axis=1)
    return Loaded(x=windows(values, length, n), y=y[..., 0] if y.shape[-1] == 1 else y, name=path.stem,
                  source=str(path), regression=True, chronological=True)


def output_names(spec: DataSpec) -> list[str]:
    """The names of a table's outputs, in the model's (flattened) order: the target columns,
    or for output_steps `<target>_1 ... <target>_H` (step by step, each target within a step)."""
    targets = [spec.target] if isinstance(spec.target, str) else list(spec.target or [])
    if spec.output_steps is None:
        return targets
    return [f"{t}_{s}" for s in range(1, spec.output_steps + 1) for t in targets]



def _streamed(path: Path, spec: DataSpec, key: str) -> Loaded:
    """Labels are read (one column, in chunks); features stay on disk for tf.data to stream."""
    import pandas as pd

    sep = "\t" if ".tsv" in path.name.lower() else ","
    head = _read_head(path, sep, key)
    targets = _targets(spec, list(head.columns), path, key)
    features = feature_columns(spec, list(head.columns), targets)
    _columns(features, list(head.columns), path, "data.features")
    bad = [c for c in features if head[c].dtype.kind not in "biuf"]
    if bad:
        raise UserError(f"{path}: a streamed CSV needs numeric feature columns; {', '.join(bad)} are not "
                        "(drop them with data.features, or set data.stream: false)", key)
    try:
        chunks = pd.read_csv(path, sep=sep, usecols=targets, chunksize=1_000_000)
        labels = pd.concat(list(chunks))
    except pd.errors.ParserError as e:
        raise UserError(f"{path}: ragged rows: {one_line(e)}", key) from None
    y, names, regression = _labels(labels, targets)
    x = CsvRows(path, list(head.columns), features, 0, len(y), sep)
    return Loaded(x=x, y=y, name=path.stem, source=str(path), class_names=names, regression=regression)


def _read_head(path: Path, sep: str, key: str):  # noqa: ANN202
    import pandas as pd

    try:
        return pd.read_csv(path, sep=sep, nrows=100)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read as CSV: {one_line(e)}", key) from None
