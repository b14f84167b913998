"""nnctl's Python API: what the `nnctl` command runs, for notebooks and programs.

    import nnctl
    run = nnctl.train("configs/iris_csv.yaml", overrides={"epochs": 3})   # or a dict config
    run.metrics["test"], run.config, run.predict("new.csv"), run.export("onnx", "model.onnx")
    nnctl.Run("runs/iris-20261204-101500").evaluate()
    nnctl.validate(config)        # raises nnctl.UserError (.key: the key path)
    nnctl.sweep(config, grid={"optimizer.learning_rate": [0.1, 0.01]})
    nnctl.report(["runs/a", "runs/b"], "compare.html")   # one HTML page: a run, a sweep, or a comparison
    nnctl.summary(config), nnctl.runs(sort="accuracy").records(), nnctl.config_show(config).origins

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

# The API on configs and on folders of runs, without training: its own modules, re-exported here.
from nnctl.api.configs import (  # noqa: F401
    ResolvedConfig,
    Starter,
    config_show,
    convert,
    datasets,
    init,
    schema,
    schema_json,
)
from nnctl.api.runs import Leaderboard, parse_grid, plot, runs  # noqa: F401
from nnctl.config import Overrides, items
from nnctl.engine.reporter import Reporter
from nnctl.run import folder as run_folder
from nnctl.sweeps import entry as sweeps
from nnctl.training.entry import ConfigSource  # a path or a mapping: one spelling


class Run:
    """A run folder: its metrics and config, and what can be done with its model."""

    def __init__(self, path: str | os.PathLike, result: dict[str, Any] | None = None) -> None:
        self.path = run_folder.resolve_run(str(path), run_folder.default_runs_dir())
        self.result = result or {}  # what `nnctl train --json` printed for it, when this process trained it

    @classmethod
    def latest(cls, runs_dir: str | os.PathLike | None = None) -> Run:
        """The most recently started run under `runs_dir` [runs, or $NNCTL_RUNS_DIR], sweeps' runs included."""
        return cls(run_folder.latest(_dir(runs_dir)))

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def metrics(self) -> dict[str, Any]:
        """metrics.json: status, val, test, history summary, dataset, timings (read now)."""
        return run_folder.RunFolder(self.path).read_metrics()

    @property
    def config(self) -> dict[str, Any]:
        """The resolved config the run trained with (config.yaml), every default filled in."""
        return run_folder.RunFolder(self.path).read_config().model_dump(mode="json")

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

        spec = run_folder.RunFolder(self.path).read_config().data
        if isinstance(inputs, bytes):
            inputs = Rows(frames.read_piped(inputs, "stdin", spec, notes), "stdin")
        elif hasattr(inputs, "columns") and hasattr(inputs, "iloc"):  # a DataFrame
            inputs = Rows(frames.normalized(inputs, spec), "rows")
        return predict_run(self.path, inputs if isinstance(inputs, Rows) else Path(inputs), notes)

    def predict_csv(self, inputs: Any, output: str | os.PathLike | None = None,
                    notes: list[str] | None = None) -> str:
        """`predict`'s table as the CSV `nnctl predict` prints (6 significant digits); also written to
        `output` (atomically) when given."""
        from nnctl.commands.predict import as_csv

        text = as_csv(self.predict(inputs, notes))
        if output is not None:
            run_folder.write_atomic(Path(output), text)
        return text

    def summary(self) -> str:
        """The Keras model summary (summary.txt; rebuilt from the saved model where that file is lost)."""
        try:
            return run_folder.RunFolder(self.path).summary.read_text()
        except (OSError, UnicodeDecodeError):  # written at the start of every run
            from nnctl.model.build import summary_text

            return summary_text(run_folder.RunFolder(self.path).load_model())

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
    from nnctl.training.entry import train_config

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
    from nnctl.engine.prepare import prepare
    from nnctl.training.entry import load

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


def summary(target: ConfigSource | Run, overrides: Overrides = None) -> str:
    """The Keras model summary of a config (built, not trained; `overrides` apply) or of a run (a Run
    or its folder)."""
    if isinstance(target, Run) or (not isinstance(target, Mapping) and Path(target).is_dir()):
        return (target if isinstance(target, Run) else Run(target)).summary()
    from nnctl.engine.prepare import summarize
    from nnctl.training.entry import load

    cfg, config_dir = load(target, overrides)
    return summarize(cfg, config_dir)


class Sweep(sweeps.Sweep):
    """A finished (or stopped) sweep: its folder, its runs best first (`.runs`: each a Run), what failed."""

    @property
    def runs(self) -> list[Run]:
        return [Run(r["path"]) for r in self.rows if r.get("path")]


def sweep(config: str | os.PathLike, grid: Mapping[str, list[Any]] | None = None, overrides: Overrides = None,
          runs_dir: str | os.PathLike | None = None, *, parallel: int | str = "auto", random: int | None = None,
          seed: int = 0, repeat: int = 1, space: list[str] | None = None, search: str | None = None,
          trials: int | None = None, objective: str | None = None, prune: str = "none", storage: str | None = None,
          sort: str | None = None, dry_run: bool = False, report: bool = True,
          on_event: Callable[[str], None] | None = None, worker: Any = None) -> Sweep:
    """Train every point of `grid` ({key: [values]}, or `random` picks of it), or search `space`
    (["key=log(1e-4, 1e-2)", ...]) with Optuna, as ordinary runs in one sweep folder; resumable.
    `on_event` gets a line per finished point (the first line says what runs, how many at a time).
    `dry_run`: only the shell commands (a point each; a search: one worker's, for a job array).
    `report`: write the sweep folder's report.html at the end (each run's own page is its config's
    `report`). `worker`: a factory of workers for the executor (tests; default: warm processes)."""
    done = sweeps.run_sweep(Path(config), grid, items(overrides), _dir(runs_dir), parallel=parallel,
                            random=random, seed=seed, repeat=repeat, space=space, search=search, trials=trials,
                            objective=objective, prune=prune, storage=storage, sort=sort, dry_run=dry_run,
                            report=report, say=on_event or (lambda line: None), worker=worker)
    return Sweep(**vars(done))


def _dir(runs_dir: str | os.PathLike | None) -> Path:
    return Path(runs_dir) if runs_dir is not None else run_folder.default_runs_dir()
