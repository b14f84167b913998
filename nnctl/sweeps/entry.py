"""Run a sweep, as `nnctl sweep` and `nnctl.sweep()` both do (what training/entry.py's
`train_config` is for a run): a grid (sweeps/grid.py) or an Optuna search (sweeps/search.py)
planned and checked, its workers sized, its points trained by the executor (sweeps/executor.py,
warm sweeps/worker.py processes), the runs ranked on validation, the exit code, and the sweep
folder's report.html. Nothing here prints: progress goes to `say`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnctl.errors import UserError


@dataclass
class Sweep:
    """A finished (or stopped) sweep: its folder, its runs best first, what failed."""

    folder: Path
    rows: list[dict[str, Any]]  # the leaderboard, best first (nnctl.run.leaderboard)
    failed: list[str]  # one line per point that did not complete
    exit_code: int  # what `nnctl sweep` ends with: 0, 1 (a point failed) or 130 (stopped)
    search: dict[str, Any] | None = None  # a search's search.json: trials, best, importances
    commands: list[str] = field(default_factory=list)  # dry_run: shell commands, nothing trained
    report: Path | None = None  # the sweep folder's report.html, unless skipped


def run_sweep(config: Path, grid: Mapping[str, list[Any]] | None, base: list[str], runs_dir: Path, *,
              parallel: int | str = "auto", random: int | None = None, seed: int = 0, repeat: int = 1,
              space: list[str] | None = None, search: str | None = None, trials: int | None = None,
              objective: str | None = None, prune: str = "none", storage: str | None = None,
              sort: str | None = None, dry_run: bool = False, report: bool = True,
              say: Callable[[str], None] = lambda line: None, worker: Any = None) -> Sweep:
    """Train every point of `grid` (or `random` picks of it), or search `space` with Optuna, into one
    sweep folder under `runs_dir`; `base`: --set items every point shares. `report`: write the
    sweep folder's report.html at the end. `worker`: a factory of the executor's workers."""
    done = _search(config, grid, base, runs_dir, parallel, seed, space, search, trials, objective, prune,
                   storage, sort, dry_run, say, worker) if space or search else \
        _grid(config, grid, base, runs_dir, parallel, random, seed, repeat, sort, dry_run, say, worker)
    if report and not dry_run:
        from nnctl import report as pages

        done.report = pages.write([done.folder])
    return done


def _search(config: Path, grid: Mapping[str, list[Any]] | None, base: list[str], runs_dir: Path,
            parallel: int | str, seed: int, space: list[str] | None, search: str | None, trials: int | None,
            objective: str | None, prune: str, storage: str | None, sort: str | None, dry_run: bool,
            say: Callable[[str], None], worker: Any) -> Sweep:
    from nnctl.run import leaderboard
    from nnctl.sweeps import search as core

    s = core.plan(config, space or [], dict(grid or {}), base, runs_dir, search or "tpe", trials, objective, prune,
                  storage, seed)
    n = auto_parallel(parallel, s.trials)
    if dry_run:
        return Sweep(s.folder, [], [], 0, commands=[core.command(s, parallel)])
    say(f"{s.search} search of {s.trials} trials on {s.objective} ({s.direction}) in {s.folder}, "
        f"{_at_a_time(parallel, n)}, pruning: {s.prune}")
    study, stopped = core.run(s, n, say, worker)
    found = core.summary(s, study)
    rows = leaderboard.order(leaderboard.of([Path(t["run_dir"]) for t in found["trials"] if t["run_dir"]]),
                             sort or s.objective)
    # Trials still running belong to other processes working on the same study: not failures.
    failed = [f"trial {t['number']} failed" for t in found["trials"] if t["state"] == "fail"]
    return Sweep(s.folder, rows, failed, exit_code(stopped, failed), found)


def _grid(config: Path, grid: Mapping[str, list[Any]] | None, base: list[str], runs_dir: Path,
          parallel: int | str, random: int | None, seed: int, repeat: int, sort: str | None, dry_run: bool,
          say: Callable[[str], None], worker: Any) -> Sweep:
    from nnctl.run import leaderboard
    from nnctl.sweeps import grid as core

    plan = core.plan(config, dict(grid or {}), base, runs_dir, random, seed, repeat)
    n = auto_parallel(parallel, len(plan.points))
    if dry_run:
        return Sweep(plan.folder, [], [], 0, commands=core.dry_run(plan))
    say(f"sweep of {len(plan.points)} runs in {plan.folder} ({_at_a_time(parallel, n)})")
    points = core.execute(plan, n, say, worker)
    rows = leaderboard.of([Path(p.run_dir) for p in points if p.run_dir])
    if repeat > 1:  # each point's seeds as one row: mean ± std, ranked by the mean
        rows = leaderboard.repeats(rows)
    failed = [f"point {p.id} {p.status}: {p.error or ''}" for p in points if p.status != "completed"]
    stopped = any(p.status == "interrupted" for p in points)
    return Sweep(plan.folder, leaderboard.order(rows, sort), failed, exit_code(stopped, failed))


def exit_code(stopped: bool, failed: list[str]) -> int:
    """What a sweep ends with: 130 when Ctrl-C/SIGTERM stopped it (points left interrupted, resumed
    by the same command), else 1 when a point did not complete, else 0."""
    return 130 if stopped else 1 if failed else 0


def auto_parallel(parallel: int | str, points: int) -> int:
    """Workers for a sweep: a number as given; `auto`, one per core, at most one per point (one on
    a machine with NVIDIA GPUs: that worker holds them all).

    Measured here (2 cores, benchmarks/warm_sweep.sh): two single-threaded workers beat one
    two-threaded worker for the small models sweeps are mostly made of and were not slower for
    a CNN that keeps both cores busy on its own (README, "Warm workers")."""
    if parallel == "auto":
        if _gpus():  # one worker holds every GPU: several would each reserve a GPU's memory
            return 1
        return max(1, min(os.cpu_count() or 1, points))
    try:
        n = int(parallel)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise UserError(f"bad value {parallel!r}: a number of workers (1 or more) or auto", "--parallel")
    return n


def _gpus() -> int:
    """NVIDIA GPUs the driver lists (without importing TensorFlow)."""
    folder = Path("/proc/driver/nvidia/gpus")
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def _at_a_time(parallel: int | str, n: int) -> str:
    if parallel != "auto":
        return f"{n} at a time"
    return f"{n} at a time: auto, {_gpus()} GPUs" if _gpus() else f"{n} at a time: auto, {os.cpu_count()} cores"
