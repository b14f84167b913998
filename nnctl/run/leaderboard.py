"""The runs in a folder as rows: status, timing, the config values that differ, final and best metrics.

Reads only metrics.json and config.yaml, so it stays fast on thousands of runs and never
imports TensorFlow. A run another process is still writing, or one killed half-way, is
listed with whatever of it can be read. Runs inside sweep folders are runs too.

Ranking uses validation values only: a bare metric name means its `val.` column, and the
default objective is the validation value early stopping watches (else val_loss). Test
metrics are shown beside them and sortable only by their full name (`test.accuracy`).
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from nnctl.config import flatten, load_yaml
from nnctl.directions import default_objective, direction
from nnctl.errors import UserError, did_you_mean
from nnctl.run import folder as runs

FIXED = ["run", "sweep", "status", "started", "duration_s", "epochs", "best_epoch"]


def collect(runs_dir: Path) -> list[dict[str, Any]]:
    """One row per run folder, the sweeps' runs included, oldest first; `config` holds the flattened config."""
    if not runs_dir.is_dir():
        raise UserError(f"no runs folder at {runs_dir}")
    return of(runs.find(runs_dir))


def of(paths: list[Path] | list[tuple[Path, str | None]]) -> list[dict[str, Any]]:
    """Rows for these run folders (those that look like runs), oldest first; a path may come with its sweep."""
    rows = []
    for item in paths:
        path, sweep = item if isinstance(item, tuple) else (item, None)
        if sweep is None and runs.is_sweep(path.parent):
            sweep = path.parent.name
        row = _row(path)
        if row is not None:
            rows.append({**row, "sweep": sweep})
    return sorted(rows, key=lambda r: (r["_started"], r["run"]))


def _row(path: Path) -> dict[str, Any] | None:
    run = runs.RunFolder(path)
    meta = runs.read_json(run.metrics)
    hparams = (meta or {}).get("hparams")
    if not isinstance(hparams, dict):  # a run still starting, or written by an older nnctl
        config = _read_yaml(run.config)
        if meta is None and config is None:
            return _bare(path, "unreadable") if run.config.exists() else None
        hparams = flatten(config or {})
    meta = meta or {}
    started = meta.get("started_at") or _mtime(path)
    row: dict[str, Any] = {
        "run": path.name,
        "path": str(path),
        "status": meta.get("status", "starting"),
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "duration_s": meta.get("duration_s"),
        "epochs": meta.get("epochs"),
        "best_epoch": meta.get("best_epoch"),
        "_started": started,
        "_directions": meta.get("directions") if isinstance(meta.get("directions"), dict) else {},
        "config": hparams,
    }
    folds = meta.get("folds") if isinstance(meta.get("folds"), dict) else {}
    for split in ("val", "test"):
        values = meta.get(split)
        for k, v in (values.items() if isinstance(values, dict) else []):
            row[f"{split}.{k}"] = v
            std = (folds.get(f"{split}_std") or {}).get(k)
            if isinstance(std, (int, float)):  # cross-validation: shown as mean ± std, ranked by the mean
                row.setdefault("_std", {})[f"{split}.{k}"] = std
    return row


def _bare(path: Path, status: str) -> dict[str, Any]:
    return {"run": path.name, "path": str(path), "status": status, "started": "", "_started": _mtime(path),
            "_directions": {}, "config": {}}


def _read_yaml(path: Path) -> dict[str, Any] | None:
    try:
        data = load_yaml(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def differing(rows: list[dict[str, Any]]) -> list[str]:
    """Config keys whose values are not the same in every listed run (a sweep's knobs), in config order."""
    keys = list(dict.fromkeys(k for r in rows if r["config"] for k in r["config"]))
    with_config = [r for r in rows if r["config"]]
    out = []
    for k in keys:
        values = {repr(r["config"].get(k)) for r in with_config}
        if len(values) > 1 and k != "name":
            out.append(k)
    return out


def select(rows: list[dict[str, Any]], filters: list[str]) -> list[dict[str, Any]]:
    """Keep rows where each KEY=VALUE holds; KEY is a column (status, test.accuracy) or a config key."""
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--filter {item!r}: expected KEY=VALUE, e.g. --filter status=completed")
        want = load_yaml(value) if value.strip() else None
        rows = [r for r in rows if _matches(r.get(key, r["config"].get(key)), want, value)]
    return rows


def _matches(have: Any, want: Any, raw: str) -> bool:
    return have == want or str(have) == raw


def objective(rows: list[dict[str, Any]]) -> str:
    """The default ranking column: the default objective (directions.default_objective) of the
    `early_stopping.monitor` the runs share; runs that monitor different values rank by val.loss."""
    monitors = {r["config"].get("early_stopping.monitor") for r in rows if r["config"]}
    monitor = monitors.pop() if len(monitors) == 1 else None
    return f"val.{default_objective(monitor if isinstance(monitor, str) else None)[4:]}"


def order(rows: list[dict[str, Any]], metric: str | None = None) -> list[dict[str, Any]]:
    """Best first by `metric` (default: the objective); a bare name is its validation column
    (`accuracy` -> val.accuracy), `val_accuracy` the same. Each run's direction is Keras' own,
    as recorded at training. Runs without the value rank last, with a note saying why."""
    column = _column(rows, metric) if metric else objective(rows)
    ranked = [r for r in rows if isinstance(r.get(column), (int, float))]
    rest = [r for r in rows if not isinstance(r.get(column), (int, float))]
    name = column.split(".", 1)[-1]
    recorded = next((r["_directions"] for r in ranked if name in (r.get("_directions") or {})), None)
    up = direction(name, recorded) == "max"
    ranked.sort(key=lambda r: r[column], reverse=up)
    for r in rest:
        has_val = any(k.startswith("val.") for k in r)
        r["note"] = f"not ranked: no {column}" if has_val or not column.startswith("val.") else \
            "not ranked: no validation split"
    return ranked + rest


def _column(rows: list[dict[str, Any]], metric: str) -> str:
    present = list(dict.fromkeys(k for r in rows for k in r if "." in k and not k.startswith("_")))
    if metric in FIXED or metric in present:
        return metric
    if "." not in metric:
        metric = f"val.{metric.removeprefix('val_')}"
    if metric.startswith("val.") and (metric in present or f"test.{metric[4:]}" in present):
        return metric  # runs without a validation split are listed, unranked
    raise UserError(f"--sort: no metric {metric!r} in these runs{did_you_mean(metric, present)}; "
                    f"they have: {', '.join(present) or 'none'} "
                    "(a bare name means its validation value: accuracy is val.accuracy)")


def table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Columns and cell values: fixed columns, differing config keys, then val and test metrics."""
    knobs = differing(rows)
    metrics = sorted(dict.fromkeys(k for r in rows for k in r if k.startswith(("val.", "test."))),
                     key=lambda k: (not k.startswith("val."), k))  # validation first: it is what ranks
    notes = ["note"] if any(r.get("note") for r in rows) else []
    columns = [*FIXED, *knobs, *metrics, *notes]
    cells = [[r["config"].get(c) if c in knobs else _shown(r, c) for c in columns] for r in rows]
    return columns, cells


def repeats(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs that differ only in their seed (a sweep's `--repeat K`) as one row each: every val and
    test value their mean (what ranks), shown as mean ± std, as cross-validation folds are."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        key = json.dumps({k: v for k, v in r["config"].items() if k not in ("seed", "name")}, sort_keys=True,
                         default=str)
        groups.setdefault(key, []).append(r)
    out = []
    for group in groups.values():
        if len(group) == 1:
            out.append(group[0])
            continue
        row = {**group[0], "run": f"{group[0]['run']} (+{len(group) - 1} seeds)", "_std": {},
               "seeds": [g["config"].get("seed") for g in group], "runs": [g["path"] for g in group]}
        for column in {k for g in group for k in g if k.startswith(("val.", "test."))}:
            values = [g[column] for g in group if isinstance(g.get(column), (int, float))]
            if len(values) == len(group):
                row[column], row["_std"][column] = statistics.fmean(values), statistics.stdev(values)
        row["status"] = "completed" if all(g["status"] == "completed" for g in group) else "mixed"
        out.append(row)
    return out


def _shown(row: dict[str, Any], column: str) -> Any:
    std = (row.get("_std") or {}).get(column)
    value = row.get(column)
    return f"{value:.4f} ± {std:.4f}" if std is not None and isinstance(value, (int, float)) else value


def as_csv(rows: list[dict[str, Any]]) -> str:
    columns, cells = table(rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows([["" if v is None else v for v in row] for row in cells])
    return buf.getvalue()


def as_records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    columns, cells = table(rows)
    return [{**dict(zip(columns, row, strict=True)), "path": r["path"]} for r, row in zip(rows, cells, strict=True)]
