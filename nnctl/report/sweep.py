"""A sweep folder's report (leaderboard, the best point's --set line, each parameter against the
objective, importances, the points that did not complete, then the best run) and a comparison of
several runs (what differs in their configs, metrics side by side, learning curves overlaid).

The rows are `nnctl runs`' own (run/leaderboard.py), ranked by validation values only.
"""

from __future__ import annotations

import io
import shlex
from pathlib import Path
from typing import Any

from nnctl.config import flow, parse_override
from nnctl.report import run as run_section
from nnctl.report.page import image, uri
from nnctl.run import analysis, leaderboard, plots
from nnctl.run import folder as runs


def board(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The leaderboard as `nnctl runs` shows it: columns, and cells with the value behind each."""
    columns, cells = leaderboard.table(rows)
    return {"columns": columns, "rows": [list(zip(columns, row, strict=True)) for row in cells]}


def sweep(folder: Path) -> dict[str, Any]:
    manifest = runs.read_json(folder / runs.SWEEP_MANIFEST) or {}
    search = runs.read_json(folder / "search.json") or {}
    rows = leaderboard.order(leaderboard.of(runs.find(folder)))
    objective = search.get("objective", leaderboard.objective(rows)).replace("val_", "val.", 1)
    points = {str(Path(p["run_dir"]).resolve()): p for p in manifest.get("points", []) if p.get("run_dir")}
    ranked = [r for r in rows if r["status"] == "completed" and isinstance(r.get(objective), (int, float))]
    best = ranked[0] if ranked else None
    params = list(manifest.get("grid") or {}) or sorted({k for t in search.get("trials", []) for k in t["params"]})
    trials = _trials(rows, points, params, objective) if not search.get("trials") else search["trials"]
    if best is None:
        ready = None
    elif search.get("best"):
        ready = search["best"]["set"]
    else:
        own = points.get(str(Path(best["path"]).resolve()), {}).get("overrides", [])
        ready = " ".join(f"--set {shlex.quote(item)}" for item in own)
    importance = search.get("importance") or (_importance(trials, params) if not search else None)
    return {
        "name": folder.name, "path": str(folder), "config": manifest.get("config"),
        "kind": f"search ({manifest.get('search')})" if manifest.get("search") else "grid",
        "objective": objective, "board": board(rows), "best": best and best["run"], "ready": ready,
        "by_parameter": image(folder / "search.png") or _by_parameter(trials, objective, rows, params),
        "importance": sorted((importance or {}).items(), key=lambda kv: -kv[1]),
        "importance_note": search.get("importance_note"),
        "unfinished": [_why(r, points) for r in rows if r["status"] != "completed"],
        "best_run": run_section.section(Path(best["path"])) if best else None,
    }


def _trials(rows: list[dict[str, Any]], points: dict[str, Any], params: list[str],
            objective: str) -> list[dict[str, Any]]:
    """A grid's points in search.json's trial shape: number, state, value, params."""
    out = []
    for r in rows:
        point = points.get(str(Path(r["path"]).resolve()), {})
        given = dict(parse_override(o) for o in point.get("overrides", []))
        value = r.get(objective) if r["status"] == "completed" else None
        out.append({"number": point.get("id", len(out) + 1), "state": r["status"],
                    "value": value if isinstance(value, (int, float)) else None,
                    "params": {k: given.get(k, r["config"].get(k)) for k in params}})
    return sorted(out, key=lambda t: t["number"])


def _importance(trials: list[dict[str, Any]], params: list[str]) -> dict[str, float] | None:
    """A grid's parameter importances, as Optuna gives a search's (fANOVA over the completed points)."""
    done = [t for t in trials if t["value"] is not None]
    if len(done) < 2 or not params:
        return None
    import optuna
    from optuna.distributions import CategoricalDistribution

    def key(v: Any) -> Any:
        return v if v is None or isinstance(v, (bool, int, float, str)) else flow(v)

    study = optuna.create_study()  # fANOVA splits the values' variance: the direction does not matter
    spaces = {p: CategoricalDistribution(sorted({key(t["params"].get(p)) for t in done}, key=str)) for p in params}
    for t in done:
        study.add_trial(optuna.trial.create_trial(params={p: key(t["params"].get(p)) for p in params},
                                                  distributions=spaces, value=t["value"]))
    try:
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError):  # every point alike, or one value per parameter
        return None


def _by_parameter(trials: list[dict[str, Any]], objective: str, rows: list[dict[str, Any]],
                  params: list[str]) -> str | None:
    if not any(t["value"] is not None for t in trials):
        return None
    name = objective.split(".", 1)[-1]
    directions = next((r["_directions"] for r in rows if name in (r.get("_directions") or {})), {})
    from nnctl.directions import direction

    buf = io.BytesIO()
    plots.search(trials, objective, "maximize" if direction(name, directions) == "max" else "minimize", params, buf)
    return uri(buf.getvalue()) if buf.getvalue() else None


def _why(row: dict[str, Any], points: dict[str, Any]) -> dict[str, Any]:
    meta = runs.read_json(Path(row["path"]) / runs.METRICS) or {}
    point = points.get(str(Path(row["path"]).resolve()), {})
    reason = meta.get("reason") or point.get("error")
    if row["status"] == "pruned":
        reason = f"pruned at epoch {meta.get('epochs')}: its objective fell behind the other points'"
    return {"run": row["run"], "status": row["status"], "reason": reason or "—"}


def comparison(paths: list[Path]) -> dict[str, Any]:
    rows = leaderboard.of(paths)
    knobs = leaderboard.differing(rows)
    metrics = sorted(dict.fromkeys(k for r in rows for k in r if k.startswith(("val.", "test."))),
                     key=lambda k: (not k.startswith("val."), k))
    curves = {r["run"]: analysis.read_history(Path(r["path"])) for r in rows}
    curves = {k: v for k, v in curves.items() if v}
    drawn = None
    if curves:
        buf = io.BytesIO()
        plots.compare(curves, buf)
        drawn = uri(buf.getvalue())
    return {"runs": [r["run"] for r in rows], "paths": [r["path"] for r in rows],
            "differs": [(k, [run_section.shown(r["config"].get(k)) for r in rows]) for k in knobs],
            "metrics": [(m, [r.get(m) for r in rows]) for m in metrics],
            "status": [r["status"] for r in rows], "curves": drawn}
