"""CSV files: tabular rows, time-series windows, and text for classification.

The functions that turn a table's rows into model inputs (`text_inputs`, `tabular_inputs`,
`window_features`, `windows`) are the ones `nnctl predict` applies to new rows too
(`nnctl.data.inputs`), so that both see the same features for the same rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnctl.config import DataSpec
from nnctl.config.data import NUMBER_DEFAULT
from nnctl.data import frames, profile
from nnctl.data.profile import MISSING
from nnctl.data.splits import Loaded, Table, encode_labels, integer_classes, should_stream
from nnctl.data.stream import CsvRows
from nnctl.errors import UserError, did_you_mean, one_line

NOT_STREAMED = (".parquet", ".jsonl", ".xlsx")  # read whole by pandas; CSV rows may stream

LIST_SEPARATORS = ("|", ";")


def load(path: Path, spec: DataSpec, key: str) -> Loaded:
    if (spec.sequence_length is None and spec.text is None and not path.name.lower().endswith(NOT_STREAMED)
            and should_stream(path, spec)):
        return _streamed(path, spec, key)
    warnings: list[str] = []
    df = frames.read(path, key, spec, warnings)
    targets = _targets(spec, list(df.columns), path, key)
    if spec.sequence_length is not None:
        return _windows(df, spec, targets, path, key)
    table = schema(df, spec, targets, path) if spec.text is None else None  # the file's columns as they come
    df, dropped = without_missing_targets(df, targets, path.name, warnings)
    y, names, regression = _labels(df, targets, warnings)
    quantity = regression and y.ndim == 1 and bool(np.all(np.mod(y, 1) == 0))  # by the task rule
    if table is None:
        _columns([spec.text], list(df.columns), path, "data.text")
        return Loaded(x=text_inputs(df, spec.text), y=y, name=path.stem, source=str(path), class_names=names,
                      regression=regression, input_dtype="string", warnings=warnings, dropped=dropped)
    images = [c for c in table.features if table.types[c] == "image"]
    if images:
        raise UserError(f"column {images[0]!r} holds image paths; the stack form reads numbers, categories and text: "
                        "use the graph form (nnctl init --data FILE writes one) or leave it out with data.features",
                        "data.features")
    keep = rows_kept(df, table, spec)
    if not keep.all():
        dropped["missing_value_drop"] = int((~keep).sum())
        warnings.append(f"data.missing: left out {dropped['missing_value_drop']:,} rows with a gap in a column "
                        "set to drop")
        df, y = df[keep.to_numpy()], y[keep.to_numpy()]
    x = tabular_inputs(df, table, key, spec)
    return Loaded(x=x, y=y, name=path.stem, source=str(path), class_names=names, regression=regression,
                  categorical={c: [] for c in table.features if table.types[c] != "number"},
                  warnings=warnings, dropped=dropped, table=table, quantity=quantity)


def without_missing_targets(df, targets: list[str], name: str, warnings: list[str]):  # noqa: ANN001, ANN201
    """Rows whose target is missing train nothing: left out of every split, counted and said."""
    gaps = df[targets].isna().any(axis=1)
    dropped = {"missing_target": int(gaps.sum())}
    if gaps.all():
        raise UserError(f"{name}: every row's target ({', '.join(targets)}) is missing", "data.target")
    if gaps.any():
        warnings.append(f"data.target: left out {dropped['missing_target']:,} of {len(df):,} rows whose "
                        f"{', '.join(targets)} is missing")
        df = df[~gaps.to_numpy()]  # the index keeps each row's place in the file, for messages
    return df, dropped


def schema(df, spec: DataSpec, targets: list[str], path: Path, key: str = "data.features") -> Table:  # noqa: ANN001
    """Each feature column's type: data.inputs where it gives one, else inferred from the values.
    Columns that look like IDs are left out unless data.features names them."""
    given = {(inp.column or name): inp.type for name, inp in (spec.inputs or {}).items()}
    features = feature_columns(spec, list(df.columns), targets)
    if key == "data.features":  # training; predict names a missing column its own way
        for c in given:
            _columns([c], list(df.columns), path, f"data.inputs.{c}")
        _columns(features, list(df.columns), path, key)
    features = [c for c in features if c in df.columns]
    columns, types = [], {}
    for c in features:
        kind, note = profile.infer(df[c], given.get(c))
        if kind == "id" and spec.features is not None:
            kind, note = "category", "named in data.features"
        if kind != "id":
            types[c] = kind
            note = note or _fill_note(df[c], kind, spec.missing_for(c))
        columns.append(profile.column(c, df[c], kind, note))
    for t in targets:
        columns.append(profile.column(t, df[t], "target", ""))
    _strategies_fit(spec, types, list(df.columns), path)
    if not types:
        raise UserError(f"{path}: no feature columns left besides the target and ID-like columns", "data.features")
    return Table(features=list(types), types=types, columns=columns, rows=len(df))


ALLOWED = {"number": ("mean", "median", "most_frequent", "constant", "drop", "error"),
           "category": ("most_frequent", "constant", "drop", "error"), "text": ("constant", "drop", "error")}


def _strategies_fit(spec: DataSpec, types: dict[str, str], have: list[str], path: Path) -> None:
    """Each data.missing entry names a column, with a strategy its type allows."""
    if isinstance(spec.missing, dict) and list(spec.missing) != ["constant"]:
        for c in spec.missing:
            if c not in have:
                raise UserError(f"{path.name} has no column {c!r}{did_you_mean(c, have)}", f"data.missing.{c}")
    for c, kind in types.items():
        how = (spec.missing_for(c) or (None, None))[0]
        if how is not None and how not in ALLOWED.get(kind, ()):
            if isinstance(spec.missing, str):
                continue  # one strategy for all: numbers take it, the rest keep their default
            raise UserError(f"{how} is for numbers; {c!r} is {kind}: use "
                            f"{', '.join('constant VALUE' if a == 'constant' else a for a in ALLOWED[kind])}",
                            f"data.missing.{c}")


def _fill_note(series, kind: str, given: tuple[str, object] | None) -> str:  # noqa: ANN001
    if not series.isna().any():
        return ""
    if given is not None and given[0] not in ALLOWED.get(kind, ()):
        given = None  # data.missing for all: what this type does not take, it fills by default
    how, value = given or ((NUMBER_DEFAULT, None) if kind == "number" else ("<missing>", None))
    how = f"constant {value}" if how == "constant" else how
    if kind == "number" and how not in ("drop", "error"):
        return f"gaps: {how} + a was-missing indicator"
    return {"text": "gaps: empty text"}.get(kind, "gaps: a <missing> category") if how == "<missing>" \
        else f"gaps: {how}"


def describe(path: Path) -> list[str]:
    """`nnctl init --data`'s view of a table: one line per column, the last column as the target."""
    df = frames.read(path, "--data")
    spec = DataSpec(source=str(path), target=str(df.columns[-1]))
    table = schema(df, spec, [spec.target], path)
    return profile.lines(table.columns, table.rows, path.name)


def rows_kept(df, table: Table, spec: DataSpec, drop: bool = True):  # noqa: ANN001, ANN201
    """False for rows with a gap in a column whose strategy is drop (predict keeps every row: the
    model fills the gap); a gap under error is one line."""
    import pandas as pd

    keep = pd.Series(True, index=df.index)
    for c in table.features:
        how = (spec.missing_for(c) or ("", None))[0]
        if how == "error" and df[c].isna().any():
            raise UserError(f"column {c!r} has a missing value (line {profile.first_missing_line(df[c])}) and "
                            "data.missing says error", f"data.missing.{c}")
        if how == "drop" and drop:
            keep &= df[c].notna()
    if not keep.any():
        raise UserError("data.missing: drop leaves no rows", "data.missing")
    return keep


def feature_columns(spec: DataSpec, columns: list[str], targets: list[str]) -> list[str]:
    """data.features, else every column but the targets."""
    return spec.features or [c for c in columns if c not in targets]


def text_inputs(df, column: str) -> np.ndarray:  # noqa: ANN001
    """A text column as one string per row (missing: empty), shape (rows, 1)."""
    return df[column].fillna("").astype(str).to_numpy(dtype=str).reshape(-1, 1)


def tabular_inputs(df, table: Table, key: str, spec: DataSpec | None = None):  # noqa: ANN001, ANN201
    """Numeric columns as one float32 matrix (gaps as NaN, filled inside the model); with any
    category or text column, a dict of named (rows, 1) inputs instead: the model encodes those with
    layers adapted on the training split and saved inside it. Categories' gaps are the `<missing>`
    category, text's the empty string (or data.missing's constant)."""
    def strings(c: str, gap: str) -> np.ndarray:
        how, value = (spec.missing_for(c) if spec else None) or ("", None)
        gap = str(value) if how == "constant" else gap
        return df[c].astype(object).where(df[c].notna(), gap).astype(str).to_numpy(dtype=str)

    def column(c: str) -> np.ndarray:
        kind = table.types[c]
        if kind == "number":
            return profile.need_numbers(df[c], c, key).to_numpy(dtype="float32")
        return strings(c, MISSING if kind == "category" else "")

    if all(table.types[c] == "number" for c in table.features):
        return np.stack([column(c) for c in table.features], axis=1) if table.features else np.zeros((len(df), 0))
    return {c: column(c).reshape(-1, 1) for c in table.features}


def window_features(df, spec: DataSpec) -> list[str]:  # noqa: ANN001
    """A time series' input columns: data.features, else every numeric column."""
    return spec.features or [c for c in df.columns if df[c].dtype.kind in "biuf"]


def windows(values: np.ndarray, length: int, count: int) -> np.ndarray:
    """The first `count` windows of `length` consecutive rows: shape (count, length, columns)."""
    view = np.lib.stride_tricks.sliding_window_view(values, (length, values.shape[1]))[:count, 0]
    return np.ascontiguousarray(view)


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


def _labels(df, targets: list[str], warnings: list[str]) -> tuple[np.ndarray, list[str] | None, bool]:  # noqa: ANN001
    """(labels, class names, regression?) from one column or several. Whole numbers are classes
    unless the task rule (profile.target_rule) reads them as a quantity."""
    if len(targets) > 1:
        y = df[targets].to_numpy(dtype="float32")
        integral = bool(np.all(np.isin(y, (0.0, 1.0))))
        return y, (targets if integral else None), not integral
    col = df[targets[0]]
    if col.dtype.kind in "biuf":
        if col.dtype.kind == "f" and not np.all(np.mod(col, 1) == 0):
            return col.to_numpy(dtype="float32"), None, True
        if profile.target_rule(col, len(col)):
            warnings.append(profile.rule_text(targets[0], int(col.nunique()), len(col)))
            return col.to_numpy(dtype="float32"), None, True
        y, names = integer_classes(col.to_numpy())
        return y, names, False
    values = col.astype(str)
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

    sep = spec.sep or ("\t" if ".tsv" in path.name.lower() else frames.sniff(frames.head_bytes(path).decode("latin-1")))
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
    y, names, regression = _labels(labels, targets, [])
    x = CsvRows(path, list(head.columns), features, 0, len(y), sep)
    return Loaded(x=x, y=y, name=path.stem, source=str(path), class_names=names, regression=regression)


def _read_head(path: Path, sep: str, key: str):  # noqa: ANN202
    import pandas as pd

    try:
        return pd.read_csv(path, sep=sep, nrows=100)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read as CSV: {one_line(e)}", key) from None
