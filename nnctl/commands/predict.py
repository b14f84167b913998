"""Predictions for new inputs from a finished run, as a table (`nnctl predict` writes it as CSV).

The inputs are read by `nnctl.data.inputs`, through the transforms training applied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nnctl.config import Config
from nnctl.data import inputs, pipeline
from nnctl.data.tables import output_names
from nnctl.run.folder import RunFolder


def predict_run(run: Path, source: Path, notes: list[str] | None = None) -> Any:
    """A pandas DataFrame: one row per input with the prediction (class names and probabilities, or
    values). What was ignored in the input (a table's target, extra columns) is said in `notes`."""
    folder = RunFolder(run)
    cfg, meta = folder.read_config(), folder.read_metrics()
    model = folder.load_model()
    ids, x = inputs.read(source, cfg.data, tuple(model.input_shape[1:]), notes)
    raw = pipeline.predict(model, x, cfg.batch_size)
    class_names = (meta.get("dataset") or {}).get("class_names")
    if cfg.graph is not None:
        header, rows = _outputs(ids, raw, cfg, class_names or {})
    elif cfg.task == "classification" and raw.ndim > 2:
        header, rows = _positions(ids, raw, class_names)
    else:
        header, rows = _table(ids, raw.reshape(len(ids), -1), cfg, class_names)
    import pandas as pd

    return pd.DataFrame(rows, columns=header)


def as_csv(frame: Any) -> str:
    """The CSV `nnctl predict` writes: values to 6 significant digits."""
    return frame.to_csv(index=False, float_format="%.6g", lineterminator="\n")


Rows = tuple[list[str], list[list[Any]]]


def _positions(ids: list[str], out: np.ndarray, class_names: list[str] | None) -> Rows:
    """Per-position classes: one column per step (`step_1` ...) or cell (`cell_1_1` ...), the class there."""
    shape = out.shape[1:-1]
    names = class_names or [str(i) for i in range(out.shape[-1])]
    cols = ([f"step_{i + 1}" for i in range(shape[0])] if len(shape) == 1 else
            ["cell_" + "_".join(str(i + 1) for i in idx) for idx in np.ndindex(*shape)])
    return ["id", *cols], [[i, *(names[k] if k < len(names) else k for k in row)]
                           for i, row in zip(ids, out.argmax(axis=-1).reshape(len(ids), -1), strict=True)]


def _table(ids: list[str], out: np.ndarray, cfg: Config, class_names: list[str] | None) -> Rows:
    task = cfg.task
    rows: list[list[Any]] = []
    names = class_names or [str(i) for i in range(out.shape[1])]
    if task == "classification":
        header = ["id", "predicted", "probability", *(f"p_{n}" for n in names)]
        for i, row in zip(ids, out, strict=True):
            k = int(row.argmax())
            rows.append([i, names[k] if k < len(names) else k, _f(row[k]), *map(_f, row)])
    elif task == "binary":
        labels = class_names if class_names and len(class_names) == 2 else ["0", "1"]
        header = ["id", "predicted", f"p_{labels[1]}"]
        rows = [[i, labels[int(row[0] >= 0.5)], _f(row[0])] for i, row in zip(ids, out, strict=True)]
    elif task == "multilabel":
        header = ["id", "predicted", *(f"p_{n}" for n in names)]
        rows = [[i, "|".join(n for n, p in zip(names, row, strict=False) if p >= 0.5), *map(_f, row)]
                for i, row in zip(ids, out, strict=True)]
    else:
        targets = output_names(cfg.data)
        cols = targets if len(targets) == out.shape[1] else [f"prediction_{j}" for j in range(out.shape[1])]
        if out.shape[1] == 1 and not targets:
            cols = ["prediction"]
        header = ["id", *cols]
        rows = [[i, *map(_f, row)] for i, row in zip(ids, out, strict=True)]
    return header, rows


def _outputs(ids: list[str], raw: dict[str, np.ndarray], cfg: Config, class_names: dict[str, Any]) -> Rows:
    """The graph form: per output, `<output>` (the class or value) and `<output>_p_<class>` probabilities;
    several values as `<output>_1 ...`."""
    header, columns = ["id"], []
    for name in cfg.outputs:
        out = raw[name].reshape(len(ids), -1)
        task = cfg.data.targets[name].task
        names = class_names.get(name) or [str(i) for i in range(out.shape[1])]
        if task == "classification":
            header += [name, *(f"{name}_p_{c}" for c in names)]
            columns.append([[names[k] if k < len(names) else k, *map(_f, row)]
                            for k, row in zip(out.argmax(axis=1), out, strict=True)])
        elif task == "binary":
            labels = names if len(names) == 2 else ["0", "1"]
            header += [name, f"{name}_p_{labels[1]}"]
            columns.append([[labels[int(p >= 0.5)], _f(p)] for p in out[:, 0]])
        elif task == "multilabel":
            header += [name, *(f"{name}_p_{c}" for c in names)]
            columns.append([["|".join(c for c, p in zip(names, row, strict=False) if p >= 0.5), *map(_f, row)]
                            for row in out])
        else:
            header += [name] if out.shape[1] == 1 else [f"{name}_{j + 1}" for j in range(out.shape[1])]
            columns.append([list(map(_f, row)) for row in out])
    return header, [[i, *(v for part in parts for v in part)]
                    for i, parts in zip(ids, zip(*columns, strict=True), strict=True)]


def _f(v: float) -> float:
    return float(v)
