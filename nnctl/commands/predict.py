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
from nnctl.model import tasks
from nnctl.run.folder import RunFolder


class Predictor:
    """A finished run's model, loaded once, with what turns its outputs into `nnctl predict`'s table:
    `predict` (a file at a time), `nnctl predict -` and `nnctl serve` all go through it."""

    def __init__(self, run: Path) -> None:
        folder = RunFolder(run)
        self.run, self.cfg, self.meta = run, folder.read_config(), folder.read_metrics()
        self.model = folder.load_model()
        self.class_names = (self.meta.get("dataset") or {}).get("class_names")
        # A binary classifier's threshold, chosen on validation when it trained (engine/decision.py).
        self.threshold = float((self.meta.get("decision") or {}).get("threshold", 0.5))

    @property
    def input_shape(self) -> tuple[Any, ...]:
        return tuple(self.model.input_shape[1:]) if not isinstance(self.model.input_shape, dict) else ()

    def read(self, source: Path | inputs.Rows, notes: list[str] | None = None) -> tuple[list[str], Any]:
        """(ids, the model's inputs) for a file, an image folder or rows in memory."""
        return inputs.read(source, self.cfg.data, self.input_shape, notes)

    def instances(self, values: list[Any], notes: list[str] | None = None) -> tuple[list[str], Any]:
        """(ids, the model's inputs) for a server's JSON instances."""
        return inputs.instances(values, self.cfg.data, self.input_shape, notes)

    def outputs(self, x: Any) -> Any:
        """The model's raw outputs (an array, or a mapping for the graph form)."""
        return pipeline.predict(self.model, x, self.cfg.batch_size)

    def call(self, x: Any) -> Any:
        """The same outputs for one batch held in memory (a server's calls), computed as `outputs`
        computes a file of a few batches: eagerly. A traced call rounds a bfloat16 model differently
        (TensorFlow fuses its ops in a graph), up to 0.003 on a probability."""
        import tensorflow as tf

        return tf.nest.map_structure(np.asarray, self.model(x, training=False))

    def fields(self) -> list[str] | None:
        """The columns a table row must give this model (None: it takes arrays or images)."""
        spec = self.cfg.data
        if spec.inputs is not None and spec.targets is not None:  # the graph form's named inputs
            return [c for name, inp in spec.inputs.items() for c in (inp.columns or [inp.column or name])]
        if spec.text is not None:
            return [spec.text]
        return list(spec.features) if spec.features else None

    def targets(self) -> list[str]:
        """The columns the run learnt to predict: a row may carry them, as `predict` ignores them."""
        spec = self.cfg.data
        if spec.targets is not None:
            return [c for name, t in spec.targets.items() for c in (t.columns or [t.column or name])]
        return [spec.target] if isinstance(spec.target, str) else list(spec.target or [])

    def warm_up(self) -> None:
        """Call the model once for a row, two and three before serving: the first calls are slow."""
        import tensorflow as tf

        def row(t: Any, n: int) -> np.ndarray:
            shape = [n, *(1 if d is None else d for d in t.shape[1:])]
            return np.full(shape, "", dtype=object).astype(str) if t.dtype == "string" else \
                np.zeros(shape, dtype=tf.as_dtype(t.dtype).as_numpy_dtype)

        try:
            struct = self.model.input  # a functional model's inputs as it takes them (a mapping, a list)
        except AttributeError:  # a loaded Sequential keeps its one input in .inputs
            struct = self.model.inputs[0]
        for n in (1, 2, 3):
            self.call(tf.nest.map_structure(lambda t, n=n: row(t, n), struct))

    def table(self, ids: list[str], raw: Any) -> Any:
        """A pandas DataFrame: one row per input with the prediction (class names and probabilities,
        or values), `nnctl predict`'s columns."""
        import pandas as pd

        header, rows = self._rows(ids, raw)
        return pd.DataFrame(rows, columns=header)

    def records(self, raw: Any) -> list[dict[str, Any]]:
        """The same rows as mappings of column to value (no id; NaN as None): a server's predictions."""
        header, rows = self._rows([""] * len(_first(raw)), raw)
        return [{k: _json(v) for k, v in zip(header[1:], row[1:], strict=True)} for row in rows]

    def _rows(self, ids: list[str], raw: Any) -> Rows:
        cfg, class_names = self.cfg, self.class_names
        if cfg.graph is not None:
            return _outputs(ids, raw, cfg, class_names or {})
        raw = tasks.probabilities(raw, cfg.task, tasks.takes_logits(cfg.loss))
        if cfg.task == "classification" and raw.ndim > 2:
            return _positions(ids, raw, class_names)
        return _table(ids, raw.reshape(len(ids), -1), cfg, class_names, self.threshold)


def _json(v: Any) -> Any:
    """A cell as JSON holds it: NaN and infinities as null, NumPy numbers as Python's."""
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    return v


def _first(raw: Any) -> Any:
    """The first output (the rows' count is the same in every one)."""
    return next(iter(raw.values())) if isinstance(raw, dict) else raw


def predict_run(run: Path, source: Path | inputs.Rows, notes: list[str] | None = None) -> Any:
    """A pandas DataFrame: one row per input with the prediction (class names and probabilities, or
    values). What was ignored in the input (a table's target, extra columns) is said in `notes`."""
    p = Predictor(run)
    ids, x = p.read(source, notes)
    return p.table(ids, p.outputs(x))


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


def _table(ids: list[str], out: np.ndarray, cfg: Config, class_names: list[str] | None,
           threshold: float = 0.5) -> Rows:
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
        rows = [[i, labels[int(row[0] >= threshold)], _f(row[0])] for i, row in zip(ids, out, strict=True)]
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
