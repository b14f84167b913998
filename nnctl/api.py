"""nnctl's Python API: what the `nnctl` command runs, for notebooks and programs.

    import nnctl
    run = nnctl.train("configs/iris_csv.yaml", overrides={"epochs": 3})   # or a dict config
    run.metrics["test"], run.config, run.predict("new.csv"), run.export("onnx", "model.onnx")
    nnctl.Run("runs/iris-20261204-101500").evaluate()
    nnctl.validate(config)        # raises nnctl.UserError (.key: the key path)
    nnctl.sweep(config, grid={"optimizer.learning_rate": [0.1, 0.01]})
    nnctl.report(["runs/a", "runs/b"], "compare.html")   # one HTML page: a run, a sweep, or a comparison

Nothing here prints or exits: errors are raised (`UserError` for what the user can fix,
`TrainingFailed` and `Interrupted` for a run that started, each with `.run`), progress goes to an
optional reporter. The CLI (`nnctl.cli`) parses, calls these and prints; sweep workers train
through the same `train_config`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnctl.commands.start import ConfigSource  # a path or a mapping: one spelling
from nnctl.config import Overrides, items
from nnctl.engine.reporter import Reporter
from nnctl.errors import UserError
from nnctl.run import folder as runs


class Run:
    """A run folder: its metrics and config, and what can be done with its model."""

    def __init__(self, path: str | os.PathLike, result: dict[str, Any] | None = None) -> None:
        self.path = runs.resolve_run(str(path), runs.default_runs_dir())
        self.result = result or {}  # what `nnctl train --json` printed for it, when this process trained it

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def metrics(self) -> dict[str, Any]:
        """metrics.json: status, val, test, history summary, dataset, timings (read now)."""
        return runs.RunFolder(self.path).read_metrics()

    @property
    def config(self) -> dict[str, Any]:
        """The resolved config the run trained with (config.yaml), every default filled in."""
        return runs.RunFolder(self.path).read_config().model_dump(mode="json")

    def evaluate(self, data: str | None = None) -> dict[str, Any]:
        """Test the saved model on its test split, or on `data` (a source as data.source takes it);
        writes and returns evaluation.json's content."""
        from nnctl.commands.evaluate import evaluate_run

        return evaluate_run(self.path, data)

    def predict(self, inputs: Any, notes: list[str] | None = None) -> Any:
        """A pandas DataFrame with `nnctl predict`'s columns for the inputs: a table, array file or
        image folder; a pandas DataFrame of rows; or bytes of CSV or JSON Lines rows (what a pipe
        carries). What was ignored in them (a target column, extra columns) is added to `notes`."""
        from nnctl.commands.predict import predict_run
        from nnctl.data import frames
        from nnctl.data.inputs import Rows

        spec = runs.RunFolder(self.path).read_config().data
        if isinstance(inputs, bytes):
            inputs = Rows(frames.read_piped(inputs, "stdin", spec, notes), "stdin")
        elif hasattr(inputs, "columns") and hasattr(inputs, "iloc"):  # a DataFrame
            inputs = Rows(frames.normalized(inputs, spec), "rows")
        return predict_run(self.path, inputs if isinstance(inputs, Rows) else Path(inputs), notes)

    def predictor(self) -> Any:
        """The run's model loaded once, for many predictions (what `nnctl serve` serves)."""
        from nnctl.commands.predict import Predictor

        return Predictor(self.path)

    def export(self, format: str = "saved_model", output: str | os.PathLike | None = None) -> dict[str, Any]:  # noqa: A002
        """Export the model (keras, saved_model, tflite, onnx) and check it against the original;
        returns where it went and the largest difference found."""
        from nnctl.commands.export import export_run

        return export_run(self.path, format, Path(output) if output is not None else None)

    def report(self, output: str | os.PathLike | None = None) -> Path:
        """Write the run's HTML report (report.html in the run folder by default); returns its path."""
        return report([self.path], output)


def report(targets: list[str | os.PathLike] | str | os.PathLike, output: str | os.PathLike | None = None) -> Path:
    """One self-contained HTML page for a run, a sweep folder, or several runs compared; written to
    `output`, else into the one target's folder (report.html), else ./report.html. Returns its path."""
    from nnctl import report as pages

    paths = [Path(targets)] if isinstance(targets, (str, os.PathLike)) else [Path(t) for t in targets]
    return pages.write(paths, Path(output) if output is not None else None)


def train(config: ConfigSource | None = None, overrides: Overrides = None, runs_dir: str | os.PathLike | None = None,
          name: str | None = None, *, resume: str | os.PathLike | None = None, mlflow: bool = False,
          reporter: Reporter | None = None) -> Run:
    """Check, build, train and test `config` (a YAML path or a mapping); `overrides` are `--set`
    items or {dotted key: value}. With `resume`, continue that run (only `epochs` may change)."""
    from nnctl.commands.start import train_config

    path, result = train_config(config, overrides, _dir(runs_dir), name, Path(resume) if resume else None,
                                mlflow, reporter)
    return Run(path, result)


@dataclass
class Checked:
    """What `validate` found: the resolved config, the model's size, the data's splits and column types."""

    config: dict[str, Any]
    task: str | None  # the stack form's task; the graph form's are in `outputs`
    outputs: dict[str, str]  # the graph form: each output's task
    layers: int  # layers of the stack, or branches of the graph
    parameters: int
    sizes: dict[str, int]
    warnings: list[str]
    precision: dict[str, str]
    columns: list[str] = field(default_factory=list)  # a table's columns, as `nnctl validate` shows them


def validate(config: ConfigSource, overrides: Overrides = None) -> Checked:
    """Check a config fully (schema, data, layers, shapes, task/loss/output) without training."""
    from nnctl.commands.start import load
    from nnctl.engine.prepare import prepare

    cfg, config_dir = load(config, overrides)
    prep = prepare(cfg, config_dir)
    columns: list[str] = []
    if prep.data.table is not None:
        from nnctl.data.profile import lines

        table = prep.data.table
        columns = lines(table.columns, table.rows, Path(prep.data.source).name)
    c = prep.cfg
    outputs = {n: t.task for n, t in c.data.targets.items()} if c.graph is not None else {}
    return Checked(prep.resolved(), c.task if c.graph is None else None, outputs, len(c.layers),
                   int(prep.model.count_params()), prep.data.sizes(), prep.warnings, prep.precision.info(), columns)


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

    @property
    def runs(self) -> list[Run]:
        return [Run(r["path"]) for r in self.rows if r.get("path")]


def sweep(config: str | os.PathLike, grid: Mapping[str, list[Any]] | None = None, overrides: Overrides = None,
          runs_dir: str | os.PathLike | None = None, *, parallel: int | str = "auto", random: int | None = None,
          seed: int = 0, repeat: int = 1, space: list[str] | None = None, search: str | None = None,
          trials: int | None = None, objective: str | None = None, prune: str = "none", storage: str | None = None,
          sort: str | None = None, dry_run: bool = False, on_event: Callable[[str], None] | None = None,
          worker: Any = None) -> Sweep:
    """Train every point of `grid` ({key: [values]}, or `random` picks of it), or search `space`
    (["key=log(1e-4, 1e-2)", ...]) with Optuna, as ordinary runs in one sweep folder; resumable.
    `on_event` gets a line per finished point (the first line says what runs, how many at a time).
    `dry_run`: only the shell commands (a point each; a search: one worker's, for a job array).
    `worker`: a factory of workers for the executor (tests; default: warm processes).
    The sweep folder gets report.html at the end, as each run does, unless the config (or an
    override) says `report: false`."""
    done = _sweep(config, grid, items(overrides), _dir(runs_dir), parallel=parallel, random=random, seed=seed,
                  repeat=repeat, space=space, search=search, trials=trials, objective=objective, prune=prune,
                  storage=storage, sort=sort, dry_run=dry_run, say=on_event or (lambda line: None), worker=worker)
    from nnctl.config import load_config

    if not dry_run and load_config(Path(config), items(overrides)).report:
        done.report = report([done.folder])
    return done


def _sweep(config: str | os.PathLike, grid: Mapping[str, list[Any]] | None, base: list[str], runs_dir: Path, *,
           parallel: int | str, random: int | None, seed: int, repeat: int, space: list[str] | None,
           search: str | None, trials: int | None, objective: str | None, prune: str, storage: str | None,
           sort: str | None, dry_run: bool, say: Callable[[str], None], worker: Any) -> Sweep:
    from nnctl.run import leaderboard

    config = Path(config)
    if space or search:
        from nnctl.commands import search as core

        s = core.plan(config, space or [], dict(grid or {}), base, runs_dir, search or "tpe", trials,
                      objective, prune, storage, seed)
        n = auto_parallel(parallel, s.trials)
        if dry_run:
            return Sweep(s.folder, [], [], 0, commands=[core.command(s, parallel)])
        say(f"{s.search} search of {s.trials} trials on {s.objective} ({s.direction}) in {s.folder}, "
            f"{_at_a_time(parallel, n)}, pruning: {s.prune}")
        study, stopped = core.run(s, n, say, worker)
        found = core.summary(s, study)
        rows = leaderboard.order(leaderboard.of([Path(t["run_dir"]) for t in found["trials"] if t["run_dir"]]),
                                 sort or s.objective)
        failed = [f"trial {t['number']} failed" for t in found["trials"] if t["state"] == "fail"]
        return Sweep(s.folder, rows, failed, 130 if stopped else 1 if failed else 0, found)
    from nnctl.commands import sweep as core

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
    return Sweep(plan.folder, leaderboard.order(rows, sort), failed, core.exit_code(points))


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


def _dir(runs_dir: str | os.PathLike | None) -> Path:
    return Path(runs_dir) if runs_dir is not None else runs.default_runs_dir()
