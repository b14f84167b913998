"""What each column of a table is, decided once from its values: number, category, text, image
path, or ID-like (left out); how many distinct values and gaps it has; and the task its target
implies. `nnctl validate` and `nnctl init --data` print it, metrics.json records it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from nnctl.data.files import IMAGE_SUFFIXES
from nnctl.errors import UserError

MISSING = "<missing>"  # a category's gaps: a category of their own
TEXT_MIN_WORDS = 2.0  # mean words per value (with ID_MIN_DISTINCT values; else one more): names, prose
ID_MIN_DISTINCT = 20  # fewer distinct values are never an ID
ID_SHARE = 0.5  # short strings, distinct in more than half the rows: names, tickets, codes
# The task rule: an integer target with more distinct values than both of these is a quantity
# (regression), not classes. 20 keeps digits (10), letters (26 is over: say task) and grades as
# classes; the share keeps a 100-class label column of a big table as classes.
CLASSES_MAX = 20
CLASSES_MAX_SHARE = 0.01


@dataclass
class Column:
    name: str
    type: str  # number | category | text | image | id | target
    distinct: int
    missing: int
    note: str = ""  # how gaps are filled, why it is left out, the target's task

    def line(self, width: int) -> str:
        kind = "ID-like" if self.type == "id" else self.type
        return (f"  {self.name:<{width}}  {kind:<8}  {self.distinct:>7,} distinct  {self.missing:>6,} missing"
                + (f"  {self.note}" if self.note else ""))


def lines(columns: list[dict[str, Any]], rows: int, source: str) -> list[str]:
    """The table as `validate` prints it: one line per column."""
    width = max([len(c["name"]) for c in columns] + [6])
    return [f"columns of {source} ({rows:,} rows):", *(Column(**c).line(width) for c in columns)]


def infer(series: Any, given: str | None = None) -> tuple[str, str]:
    """(type, note) of one feature column; `given` is the config's type (data.inputs), which wins."""
    values = series.dropna()
    if given is not None:
        return given, ""
    if len(values) == 0:
        return "id", "left out: every value is missing"
    if series.dtype.kind in "biuf":
        return _number(values)
    text = values.astype(str)
    if text.str.lower().str.endswith(tuple(IMAGE_SUFFIXES)).mean() >= 0.9:
        return "image", ""
    numeric = _numeric_share(text)
    distinct = text.nunique()
    words = text.str.split().str.len().mean()
    if words >= TEXT_MIN_WORDS + 1 or (distinct >= ID_MIN_DISTINCT and words >= TEXT_MIN_WORDS):
        return "text", "bag of words"
    if distinct >= ID_MIN_DISTINCT and distinct > ID_SHARE * len(text):
        return "id", f"left out: {distinct:,} distinct values in {len(text):,} rows, like an ID (give it a type in " \
                     "data.inputs to keep it)"
    if numeric[0] >= 0.9:
        return "category", (f"numbers except {numeric[1]} (e.g. {numeric[2]!r}): read as categories; add those to "
                            "data.na_values to read numbers")
    return "category", ""


def _number(values: Any) -> tuple[str, str]:
    """A row number (consecutive distinct integers) is an ID; anything else numeric is a number."""
    n = len(values)
    if n >= ID_MIN_DISTINCT and values.dtype.kind in "iu" and values.is_unique and \
            int(values.max()) - int(values.min()) == n - 1 and values.is_monotonic_increasing:
        return "id", "left out: consecutive row numbers"
    return "number", ""


def _numeric_share(text: Any) -> tuple[float, int, str]:
    import pandas as pd

    parsed = pd.to_numeric(text, errors="coerce")
    bad = text[parsed.isna()]
    return (1 - len(bad) / max(len(text), 1), len(bad), str(bad.iloc[0]) if len(bad) else "")


def target_rule(values: Any, rows: int) -> bool:
    """True when whole numbers are a quantity (regression) by the task rule, not class labels."""
    distinct = int(values.nunique())
    return distinct > CLASSES_MAX and distinct > CLASSES_MAX_SHARE * rows


def rule_text(name: str, distinct: int, rows: int) -> str:
    return (f"data.target: {name!r} holds whole numbers with {distinct:,} distinct values in {rows:,} rows (more "
            f"than {CLASSES_MAX} and than {CLASSES_MAX_SHARE:.0%} of the rows): read as regression; set task: "
            "classification to read them as classes")


def column(name: str, series: Any, type_: str, note: str) -> dict[str, Any]:
    return asdict(Column(name, type_, int(series.nunique(dropna=True)), int(series.isna().sum()), note))


def first_missing_line(series: Any) -> int:
    """The 1-based file line of the first gap (after the header line)."""
    return int(series.index[series.isna().to_numpy().argmax()]) + 2


def need_numbers(series: Any, name: str, key: str) -> Any:
    """A column given type number: its values as floats; text that is no number is one line."""
    import pandas as pd

    if series.dtype.kind in "biuf":
        return series.astype("float64")
    parsed = pd.to_numeric(series, errors="coerce")
    bad = parsed.isna() & series.notna()
    if bad.any():
        raise UserError(f"column {name!r} has {str(series[bad].iloc[0])!r} (line {int(series.index[bad][0]) + 2}), "
                        "not a number; add it to data.na_values or give the column type: category", key)
    return parsed
