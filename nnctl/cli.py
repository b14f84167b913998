"""The command line: parsing and printing only; the work happens in the core modules.

Core modules are imported inside the commands so that `nnctl --help` and the
config checks that fail early never pay for importing TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from . import __version__
from .errors import NnctlError

app = typer.Typer(
    help="Train Keras models from YAML experiment configs.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals here are tensors and arrays
    rich_markup_mode=None,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # progress, warnings, tables: silenced by --quiet
errors = Console(stderr=True, soft_wrap=True)  # error messages: never silenced

SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a config value by dotted path; repeatable."),
]
RunsDirOpt = Annotated[
    Optional[Path], typer.Option("--runs-dir", help="Folder of run folders [default: runs, or $NNCTL_RUNS_DIR].")
]


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """The one place where nnctl's errors become a message on stderr and an exit code."""
    try:
        yield
    except typer.Exit:
        raise
    except NnctlError as e:
        errors.print(f"error: {e}", style="red", markup=False, highlight=False)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        errors.print("interrupted", style="red")
        raise typer.Exit(130) from None
    except Exception as e:  # noqa: BLE001  (a bug in nnctl: one line, the traceback on request)
        from . import tf

        if tf.VERBOSE:
            raise
        errors.print(f"error: internal error ({type(e).__name__}: {' '.join(str(e).split())[:300]}); "
                  "run with --verbose for the traceback", style="red", markup=False, highlight=False)
        raise typer.Exit(1) from None


def _version(value: bool) -> None:
    if value:
        out.print(f"nnctl {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show TensorFlow's own log lines.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only errors and the final result line; no progress.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    import signal

    from . import tf

    # SIGTERM ends nnctl as Ctrl-C does (exit 130, run marked interrupted), not silently by the signal.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    tf.VERBOSE = verbose
    err.quiet = quiet
    if not verbose:
        import warnings

        # Keras' Python warnings speak of its internals; nnctl reports what matters in its own words.
        warnings.simplefilter("ignore")


def _runs_dir(value: Path | None) -> Path:
    from .runs import default_runs_dir

    return value or default_runs_dir()


def _warn(messages: list[str]) -> None:
    for m in messages:
        err.print(f"warning: {m}", style="yellow", markup=False, highlight=False)


@app.command()
def train(
    config: Annotated[
        Optional[Path], typer.Argument(help="The experiment's YAML config [default with --resume: the run's].")
    ] = None,
    set_: SetOpt = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", min=1, help="Shorthand for --set epochs=N.")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Run-name prefix [default: the config's name].")] = None,
    runs_dir: RunsDirOpt = None,
    resume: Annotated[
        Optional[Path], typer.Option("--resume", metavar="RUN_DIR", help="Continue this run from its last epoch.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
    mlflow: Annotated[
        bool, typer.Option("--mlflow", help="Also log to MLflow (on by itself when MLFLOW_TRACKING_URI is set).")
    ] = False,
) -> None:
    """Validate, build, train and test a model; print the run folder's path last."""
    with handled():
        from . import runs
        from .config import load_config
        from .errors import RunEnded, UserError

        run = runs.resolve_run(str(resume), _runs_dir(runs_dir)) if resume else None
        if config is None and run is None:
            raise UserError("give a CONFIG to train, or --resume RUN_DIR to continue a run")
        sets = [*(set_ or []), *([f"epochs={epochs}"] if epochs else [])]
        cfg = load_config(config, sets) if config is not None else runs.read_config(run, sets)
        source = config or run / runs.CONFIG
        if name is not None:
            cfg.name = name
        from . import train as core

        prep = core.prepare(cfg, source.parent, distributed=True)
        _warn(prep.warnings)
        from .reports import sizes_line

        doing = f"resuming {run}" if run else f"training {prep.cfg.name}"
        err.print(f"{doing}: {sizes_line(prep.data.sizes())} examples, {prep.cfg.epochs} epochs", highlight=False)
        try:
            run, meta = core.train(prep, _runs_dir(runs_dir), _Progress(err), resume=run, mlflow=mlflow)
        except RunEnded as e:
            if as_json and e.run is not None:  # a sweep script still learns which folder and why
                print(json.dumps({"run_dir": str(e.run), "status": e.status, "error": str(e)}))
            raise
        dist = meta.get("distribution") or {}
        if meta["test"]:  # a non-chief worker tests nothing: the chief does
            _print_metrics("test", meta["test"], err)
        elif not dist.get("chief", True):
            err.print(f"worker {dist['worker']} done; the chief writes {run}", highlight=False)
        if as_json:  # one line, last: `nnctl train --json ... | tail -1` is the whole result
            result = {"run_dir": str(run), "status": meta["status"], "test": meta["test"], "val": meta["val"],
                      "best_epoch": meta["best_epoch"], "epochs": meta["epochs"], "duration_s": meta["duration_s"]}
            if dist.get("strategy", "none") != "none":
                result.update({k: dist.get(k) for k in ("chief", "worker", "weights_sha256")})
            print(json.dumps(result))
        else:
            print(run)


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="The YAML config to check.")],
    set_: SetOpt = None,
) -> None:
    """Check a config fully (schema, layers, shapes, task/loss/output) without training."""
    with handled():
        from .config import load_config

        cfg = load_config(config, set_)
        from . import train as core
        from .reports import sizes_line

        prep = core.prepare(cfg, config.parent)
        _warn(prep.warnings)
        out.print(f"{config}: ok: {prep.cfg.task}, {len(prep.cfg.layers)} layers, "
                  f"{prep.model.count_params():,} parameters; data: {sizes_line(prep.data.sizes())} examples",
                  highlight=False)


@app.command()
def summary(
    target: Annotated[
        Optional[Path], typer.Argument(help="A config or a run folder [default: the latest run].")
    ] = None,
    set_: SetOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Print the Keras model summary of a config (without training) or of a run."""
    with handled():
        from . import runs

        if target is not None and not target.is_dir():
            from .config import load_config

            cfg = load_config(target, set_)
            from . import train as core

            out.print(core.summarize(cfg, target.parent), end="", markup=False, highlight=False)
            return
        run = runs.resolve_run(str(target) if target else None, _runs_dir(runs_dir))
        out.print(f"run: {run}", highlight=False)
        try:
            text = (run / runs.SUMMARY).read_text()
        except (OSError, UnicodeDecodeError):  # written at the start of every run; rebuilt from the model if lost
            from .model import summary_text
            from .saved import run_model

            text = summary_text(run_model(run))
        out.print(text, end="", markup=False, highlight=False)


@app.command()
def evaluate(
    run_dir: Annotated[Optional[Path], typer.Argument(help="A run folder [default: the latest run].")] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="Evaluate on this source instead.")] = None,
    runs_dir: RunsDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Evaluate a run's saved model on its test split; writes evaluation.json into the run."""
    with handled():
        from . import runs

        run = runs.resolve_run(str(run_dir) if run_dir else None, _runs_dir(runs_dir))
        from .evaluate import evaluate_run

        result = evaluate_run(run, data)
        _warn(result["warnings"])
        if as_json:
            print(json.dumps(result))
        else:
            out.print(f"run: {run}  data: {result['data']['name']} ({result['data']['test_size']} test examples)",
                      highlight=False)
            _print_metrics("test", result["test"], out)


@app.command("runs")
def runs_(
    runs_dir: Annotated[
        Optional[Path], typer.Argument(help="Folder of run folders [default: runs, or $NNCTL_RUNS_DIR].")
    ] = None,
    sort: Annotated[Optional[str], typer.Option(
        "--sort", metavar="METRIC", help="Best first by this validation metric (accuracy: val.accuracy); "
        "test.METRIC by its full name.")] = None,
    filter_: Annotated[
        Optional[list[str]], typer.Option("--filter", metavar="KEY=VALUE", help="Only matching runs; repeatable.")
    ] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV on stdout.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """One row per run: status, date, duration, the config values that differ, val and test metrics."""
    with handled():
        from . import leaderboard

        rows = leaderboard.select(leaderboard.collect(_runs_dir(runs_dir)), filter_ or [])
        if sort:
            rows = leaderboard.order(rows, sort)
        if as_json:
            sys.stdout.write(json.dumps(leaderboard.as_records(rows), indent=2) + "\n")
        elif as_csv:
            sys.stdout.write(leaderboard.as_csv(rows))
        else:
            _print_aligned(leaderboard.table(rows))


@app.command()
def sweep(
    config: Annotated[Path, typer.Argument(help="The experiment's YAML config.")],
    grid: Annotated[
        Optional[list[str]], typer.Option("--grid", metavar="KEY=V1,V2", help="Values to sweep; repeatable.")
    ] = None,
    random_n: Annotated[
        Optional[int], typer.Option("--random", metavar="N", min=1, help="N random points of the grid.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for --random.")] = 0,
    parallel: Annotated[int, typer.Option("--parallel", min=1, help="Runs at once; the cores are shared.")] = 1,
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Runs per point, seeds seed, seed+1, ...")] = 1,
    set_: SetOpt = None,
    runs_dir: RunsDirOpt = None,
    sort: Annotated[Optional[str], typer.Option(
        "--sort", metavar="METRIC", help="Leaderboard order [default: the validation value early stopping "
        "watches, else val_loss].")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print one nnctl train command per point.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the leaderboard as JSON.")] = False,
) -> None:
    """Train every point of a grid (or random picks) as ordinary runs; resumable; ends with the leaderboard."""
    with handled():
        from . import leaderboard
        from . import sweep as core

        plan = core.plan(config, grid or [], set_ or [], _runs_dir(runs_dir), random_n, seed, repeat)
        if dry_run:
            sys.stdout.write("".join(f"{line}\n" for line in core.dry_run(plan)))
            return
        err.print(f"sweep of {len(plan.points)} runs in {plan.folder} ({parallel} at a time)", highlight=False)
        points = core.execute(plan, parallel, lambda msg: err.print(msg, highlight=False, markup=False))
        rows = leaderboard.order(leaderboard.of([Path(p.run_dir) for p in points if p.run_dir]), sort)
        if as_json:
            sys.stdout.write(json.dumps(leaderboard.as_records(rows), indent=2) + "\n")
        else:
            _print_aligned(leaderboard.table(rows))
        failed = [p for p in points if p.status != "completed"]
        for p in failed:
            err.print(f"point {p.id} {p.status}: {p.error or ''}", style="red", highlight=False, markup=False)
        raise typer.Exit(core.exit_code(points))


def _print_aligned(table: tuple[list[str], list[list]]) -> None:
    from .reports import aligned

    header, *lines = aligned(*table)
    out.print(header, style="bold", highlight=False, markup=False)
    sys.stdout.flush()
    sys.stdout.write("".join(f"{line}\n" for line in lines))


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A completed run folder.")],
    source: Annotated[Path, typer.Argument(metavar="INPUT", help="A .npz/.npy/.csv file or a folder of images.")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the CSV here.")] = None,
) -> None:
    """Predictions for new inputs as CSV: class and probabilities, or values for regression."""
    with handled():
        from . import runs

        run = runs.resolve_run(str(run_dir), _runs_dir(None))
        from .predict import predict_run

        table = predict_run(run, source)
        if output is None:
            sys.stdout.write(table)
        else:
            runs.write_atomic(output, table)
            err.print(f"{table.count(chr(10)) - 1} predictions written to {output}", highlight=False)


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A completed run folder.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="keras, saved_model, tflite or onnx.")] = "saved_model",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="[default: RUN_DIR/export/...]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Export the run's model and check its predictions match the original on test samples."""
    with handled():
        from . import runs

        run = runs.resolve_run(str(run_dir), _runs_dir(None))
        from .export import export_run

        result = export_run(run, fmt, output)
        if as_json:
            print(json.dumps(result))
        else:
            err.print(f"{fmt} export checked on {result['samples']} test samples "
                      f"(max difference {result['max_abs_diff']:.2g})", highlight=False)
            print(result["path"])


@app.command()
def plot(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run folders to compare.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The PNG to write.")] = Path("learning_curves.png"),
) -> None:
    """Overlay the learning curves of several runs in one figure."""
    with handled():
        from . import runs
        from .analysis import read_history
        from .errors import UserError
        from .plots import compare

        curves = {}
        for value in run_dirs:
            run = runs.resolve_run(str(value), _runs_dir(None))
            history = read_history(run)
            if not history:
                raise UserError(f"{run} has no epochs in history.csv yet")
            curves[run.name] = history
        compare(curves, output)
        err.print(f"learning curves of {len(curves)} runs", highlight=False)
        print(output)


@app.command()
def schema(
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write it here.")] = None,
) -> None:
    """The config's JSON Schema for editors (YAML language servers), with Keras' names."""
    with handled():
        from .schema import json_schema

        text = json.dumps(json_schema(), indent=2) + "\n"
        if output is None:
            sys.stdout.write(text)
        else:
            from .runs import write_atomic

            write_atomic(output, text)
            print(output)


@app.command()
def init(
    file: Annotated[Optional[Path], typer.Argument(help="Write the config here [default: stdout].")] = None,
    task: Annotated[
        Optional[str], typer.Option("--task", help="classification, binary, multilabel or regression.")
    ] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="A built-in name or a path.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """A commented starter config, shaped by its data, that validates and trains as written."""
    with handled():
        from .errors import UserError

        tasks = ("classification", "binary", "multilabel", "regression")
        if task is not None and task not in tasks:
            raise UserError(f"bad value {task!r}: one of {', '.join(tasks)}", "--task")
        if file is not None and file.exists() and not force:
            raise UserError(f"{file} exists; use --force to overwrite it")
        from .starter import starter

        text = starter(task, data, Path.cwd())
        if file is None:
            sys.stdout.write(text)
            return
        from .runs import write_atomic

        write_atomic(file, text)
        err.print(f"wrote {file}; next: nnctl validate {file} && nnctl train {file}", highlight=False)
        print(file)


config_app = typer.Typer(help="Look at configs.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(
    config: Annotated[Path, typer.Argument(help="The YAML config.")],
    set_: SetOpt = None,
    infer: Annotated[
        bool, typer.Option("--infer", help="Also load the data to fill in task, loss, metrics and input shape.")
    ] = False,
) -> None:
    """The resolved config: every default filled in, --set applied (what a run's config.yaml holds)."""
    with handled():
        from .config import dump_yaml, load_config

        cfg = load_config(config, set_)
        _warn(cfg.translations)
        if infer:
            from . import train as core

            resolved = core.prepare(cfg, config.parent).resolved()
        else:
            resolved = cfg.model_dump(mode="json")
        sys.stdout.write(dump_yaml(resolved))


@app.command()
def datasets(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON on stdout.")] = False,
) -> None:
    """List the built-in datasets and whether each is available here now."""
    with handled():
        from .data.builtin import availability

        rows = availability()
        if as_json:
            out.print_json(json.dumps(rows))
            return
        table = Table(show_header=True, header_style="bold")
        for col in ("name", "available", "from"):
            table.add_column(col)
        for row in rows:
            table.add_row(row["name"], row["available"], row["from"])
        out.print(table)


def _print_metrics(title: str, metrics: dict[str, float], console: Console) -> None:
    table = Table(title=f"{title} metrics", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in metrics.items():
        table.add_row(k, f"{v:.4f}")
    console.print(table)


class _Progress:
    """Training progress on stderr: a live bar on a terminal, one plain line per epoch elsewhere."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = None
        self.task = None
        self.epochs = 0

    def start(self, epochs: int, steps: int) -> None:
        self.epochs, self.steps = epochs, steps
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), TextColumn("{task.fields[loss]}"),
                                console=self.console, transient=True)
            self.bar.start()

    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None:
        if self.bar is None:
            return
        if self.task is None or step == 1:
            if self.task is not None:
                self.bar.remove_task(self.task)
            self.task = self.bar.add_task(f"epoch {epoch}/{self.epochs}", total=self.steps, loss="")
        self.bar.update(self.task, completed=step, loss=f"loss {logs.get('loss', float('nan')):.4f}")

    def epoch(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        from .reports import epoch_line

        line = epoch_line(epoch, self.epochs, logs, seconds)
        self.console.print(line, highlight=False, markup=False)

    def note(self, message: str) -> None:
        style = "yellow" if message.startswith("warning:") else None
        self.console.print(message, style=style, highlight=False, markup=False)

    def end(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run() -> None:
    try:
        app()
    except SystemExit as e:
        if "tensorflow" not in sys.modules:
            raise
        _exit_now(e.code)


def _exit_now(code: int | str | None) -> None:
    """End the process without the interpreter's teardown once TensorFlow is loaded.

    Freeing TensorFlow's modules and C++ state takes about a second (0.96 s after a bare
    `import keras`, against 0.05 s this way) and writes nothing: by now every run file is
    closed and renamed into place. atexit handlers still run and the streams are flushed.
    """
    import atexit
    import os

    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()  # what a normal exit runs first (logging, multiprocessing)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    sys.exit(run())
