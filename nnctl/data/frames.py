"""Tables as they come, read into a pandas DataFrame: CSV/TSV (delimiter sniffed, any text
encoding named), Parquet, JSON Lines and Excel, with every usual spelling of "missing".

Training, evaluate and predict read files through `read`, so a value means the same in each.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from nnctl.errors import UserError, one_line

# Read as missing, besides pandas' own (empty, NA, N/A, NaN, null, None, #N/A, ...): UCI's "?"
# and a spreadsheet's lone "-". `data.na_values` adds more.
NA_VALUES = ["", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "?", "-"]
DELIMITERS = ",;\t|"
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".parquet", ".jsonl", ".xlsx")
SNIFF_BYTES = 64 * 1024


def is_table(path: Path) -> bool:
    return path.name.lower().endswith(TABLE_SUFFIXES)


def read(path: Path, key: str, spec: Any = None, warnings: list[str] | None = None):  # noqa: ANN201  (DataFrame)
    """The file's rows; `spec` (a DataSpec) gives sep, na_values and an Excel sheet. A note about how
    it was read (a guessed encoding) goes to `warnings`."""
    import pandas as pd

    na = NA_VALUES + [str(v) for v in getattr(spec, "na_values", None) or []]
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            df = _na(pd.read_parquet(path), na)
        elif name.endswith(".jsonl"):
            df = _na(pd.read_json(path, lines=True, dtype=False), na)
        elif name.endswith(".xlsx"):
            df = pd.read_excel(path, sheet_name=getattr(spec, "sheet", 0), na_values=na, keep_default_na=True)
        else:
            df = _csv(path, key, getattr(spec, "sep", None), na, warnings)
    except UserError:
        raise
    except ImportError as e:
        raise UserError(f"{path}: reading {path.suffix} files needs {e.name}: pip install {e.name}", key) from None
    except (pd.errors.ParserError, ValueError) as e:
        raise UserError(f"{path}: cannot read as a table: {one_line(e)}", key) from None
    except (pd.errors.EmptyDataError, OSError) as e:
        raise UserError(f"{path}: cannot read as a table: {one_line(e)}", key) from None
    if df.empty:
        raise UserError(f"{path}: no data rows", key)
    df.columns = [str(c).strip() for c in df.columns]
    return df


def records(rows: list[dict[str, Any]], spec: Any = None):  # noqa: ANN201  (DataFrame)
    """Rows given as mappings (JSON), read as a file's rows would be: null and the NA spellings
    missing, the columns in order of first appearance."""
    import pandas as pd

    return normalized(pd.DataFrame.from_records(rows), spec)


def normalized(df: Any, spec: Any = None):  # noqa: ANN201  (DataFrame)
    """A DataFrame made in memory, as a file's rows are read: the NA spellings missing, names stripped."""
    if df.empty:
        raise UserError("no data rows", "INPUT")
    na = NA_VALUES + [str(v) for v in getattr(spec, "na_values", None) or []]
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    return _na(df, na)


def read_piped(data: bytes, name: str, spec: Any = None, warnings: list[str] | None = None):  # noqa: ANN201
    """Rows piped in (stdin): JSON Lines when they start with `{`, else CSV (its delimiter sniffed),
    read exactly as a file of that kind; `name` stands for the file in messages."""
    import tempfile

    suffix = ".jsonl" if data.lstrip()[:1] == b"{" else ".csv"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}{suffix}"
        path.write_bytes(data)
        try:
            return read(path, "INPUT", spec, warnings)
        except UserError as e:
            raise UserError(str(e.message).replace(str(path), name), e.key) from None


def _na(df: Any, na: list[str]) -> Any:
    """Formats that carry types (Parquet, JSON) still spell missing as text sometimes."""
    text = [c for c in df.columns if df[c].dtype.kind in "OUST"]
    if text:
        df[text] = df[text].replace({v: None for v in na if v != ""}).replace({"": None})
    return df.infer_objects()


def _csv(path: Path, key: str, sep: str | None, na: list[str], warnings: list[str] | None) -> Any:
    import pandas as pd

    head = head_bytes(path)
    encoding = "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not a character cut at the sample's end
            encoding = "latin-1"
            if warnings is not None:
                warnings.append(f"data.source: {path.name} is not UTF-8 (byte {e.start} is 0x{head[e.start]:02x}); "
                                "read it as Latin-1")
    text = head.decode(encoding, errors="replace")
    sep = sep or ("\t" if ".tsv" in path.name.lower() else sniff(text))
    decimal = "," if sep == ";" and re.search(r"(^|;)\s*-?\d+,\d+\s*(;|$)", text, re.MULTILINE) else "."
    try:
        return pd.read_csv(path, sep=sep, decimal=decimal, na_values=na, keep_default_na=True,
                           encoding=encoding, skipinitialspace=True)
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text at byte {e.start} (0x{e.object[e.start]:02x}); save it as UTF-8",
                        key) from None
    except pd.errors.ParserError as e:
        raise UserError(f"{path}: ragged rows: {one_line(e)}", key) from None


def head_bytes(path: Path) -> bytes:
    if path.name.lower().endswith(".gz"):
        import gzip

        with gzip.open(path, "rb") as f:
            return f.read(SNIFF_BYTES)
    with open(path, "rb") as f:
        return f.read(SNIFF_BYTES)


def sniff(text: str) -> str:
    """The delimiter among , ; tab | that splits the first lines into the same number (> 1) of fields."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if len(lines) > 1:
        lines = lines[:-1]  # the sample may end mid-line
    best, best_fields = ",", 1
    for d in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=d)]
        if counts and min(counts) == max(counts) and counts[0] > best_fields:
            best, best_fields = d, counts[0]
    if best_fields == 1:  # ragged under every delimiter: the one that splits the header most
        best = max(DELIMITERS, key=lambda d: len(next(csv.reader(lines[:1], delimiter=d), [])))
    return best
