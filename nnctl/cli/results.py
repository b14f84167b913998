"""Commands on finished runs: evaluate, runs, sweep, predict, export, plot, report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from nnctl.choices import ExportFormat
from nnctl.cli.app import JsonOpt, NoReportOpt, RunsDirOpt, SetOpt, app, err, out, warn
from nnctl.cli.show import print_aligned, print_metrics


@app.command()
def evaluate(
    run_dir: Annotated[Optional[Path], typer.Argument(help="A run folder [default: the latest run].")] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="Evaluate on this source instead.")] = None,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate a run's saved model on its test split; writes evaluation.json into the run."""
    from nnctl import api

    run = api.Run(run_dir) if run_dir is not None else api.Run.latest(runs_dir)
    result = run.evaluate(data)
    warn(result["warnings"])
    if as_json:
        print(json.dumps(result))
    else:
        out.print(f"run: {run.path}  data: {result['data']['name']} ({result['data']['test_size']} test examples)",
                  highlight=False)
        print_metrics("test", result["test"], out)


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
    from nnctl import api

    board = api.runs(runs_dir, sort=sort, filters=filter_)
    if as_json:
        sys.stdout.write(json.dumps(board.records(), indent=2) + "\n")
    elif as_csv:
        sys.stdout.write(board.csv())
    else:
        print_aligned(board.table())


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
    parallel: Annotated[str, typer.Option(
        "--parallel", metavar="N|auto", help="Runs at once, the cores shared among them; auto: as many as make the "
        "sweep fastest here (one per core).")] = "auto",
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Runs per point, seeds seed, seed+1, ...")] = 1,
    set_: SetOpt = None,
    runs_dir: RunsDirOpt = None,
    sort: Annotated[Optional[str], typer.Option(
        "--sort", metavar="METRIC", help="Leaderboard order [default: the validation value early stopping "
        "watches, else val_loss].")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print one nnctl train command per point.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the leaderboard as JSON.")] = False,
    space: Annotated[Optional[list[str]], typer.Option(
        "--space", metavar="KEY=SPEC", help="A range to search: choice(a, b), int(lo, hi), int(lo, hi, log), "
        "float(lo, hi), log(lo, hi); repeatable.")] = None,
    search: Annotated[Optional[str], typer.Option(
        "--search", help="grid | random | tpe: an Optuna study in the sweep folder [default: tpe with --space].")
    ] = None,
    trials: Annotated[Optional[int], typer.Option("--trials", min=1, help="The study's total trials, "
                                                  "however many processes work on it.")] = None,
    objective: Annotated[Optional[str], typer.Option(
        "--objective", help="The validation value to optimise [default: early_stopping.monitor, else val_loss].")
    ] = None,
    prune: Annotated[str, typer.Option("--prune", help="median | hyperband | none: stop points that fall "
                                       "behind.")] = "none",
    storage: Annotated[Optional[str], typer.Option(
        "--storage", metavar="URL", help="Any database Optuna takes [default: a journal file in the sweep folder].")
    ] = None,
    no_report: NoReportOpt = False,
) -> None:
    """Train every point of a grid (or random picks), or search with Optuna, as ordinary runs; resumable;
    ends with the leaderboard and the sweep folder's report.html."""
    from nnctl import api

    # --no-report: neither the sweep's page nor its runs' (the config key `report` is a run's page)
    sets = [*(set_ or []), *(["report=false"] if no_report else [])]
    done = api.sweep(config, api.parse_grid(grid or []), sets, runs_dir, parallel=parallel,
                     random=random_n, seed=seed, repeat=repeat, space=space, search=search, trials=trials,
                     objective=objective, prune=prune, storage=storage, sort=sort, dry_run=dry_run,
                     report=not no_report, on_event=lambda line: err.print(line, highlight=False, markup=False))
    if dry_run:
        sys.stdout.write("".join(f"{line}\n" for line in done.commands))
        return
    board = api.Leaderboard(done.rows)
    if as_json:
        sys.stdout.write(json.dumps(board.records(), indent=2) + "\n")
    else:
        print_aligned(board.table())
    if done.report is not None:
        err.print(f"report: {done.report}", highlight=False)
    if done.search is not None:
        print_search(config, done.folder, done.search)
    else:
        for line in done.failed:
            err.print(line, style="red", highlight=False, markup=False)
    raise typer.Exit(done.exit_code)


def print_search(config: Path, folder: Path, found: dict) -> None:
    """A search's end: the best trial as a ready command, the parameters' importances, the counts."""
    if "best" in found:
        b = found["best"]
        err.print(f"best: trial {b['number']}, {found['objective']} {b['value']:.4g}: nnctl train {config} {b['set']}",
                  highlight=False, markup=False)
    if found.get("importance"):
        err.print("importance: " + ", ".join(f"{k} {v:.2f}" for k, v in found["importance"].items()),
                  highlight=False)
    states = [t["state"] for t in found["trials"]]
    err.print(f"{states.count('complete')} complete, {states.count('pruned')} pruned, {states.count('fail')} failed; "
              f"{folder / 'search.json'}, {folder / 'search.png'}", highlight=False)


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A completed run folder.")],
    source: Annotated[Path, typer.Argument(
        metavar="INPUT", help="A .npz/.npy/.csv file, a folder of images, or - for CSV or JSON Lines rows on stdin.")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the CSV here.")] = None,
) -> None:
    """Predictions for new inputs as CSV: class and probabilities, or values for regression."""
    from nnctl import api

    notes: list[str] = []
    piped = str(source) == "-"  # rows on stdin, for shell pipelines
    table = api.Run(run_dir).predict_csv(sys.stdin.buffer.read() if piped else source, output, notes)
    warn(notes)
    if output is None:
        sys.stdout.write(table)
    else:
        err.print(f"{table.count(chr(10)) - 1} predictions written to {output}", highlight=False)


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A completed run folder.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="The file format.")] = ExportFormat.saved_model,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="[default: RUN_DIR/export/...]")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Export the run's model and check its predictions match the original on test samples."""
    from nnctl import api

    result = api.Run(run_dir).export(fmt.value, output)
    if as_json:
        print(json.dumps(result))
    else:
        err.print(f"{fmt.value} export checked on {result['samples']} test samples "
                  f"(max difference {result['max_abs_diff']:.2g})", highlight=False)
        if "converted" in result:
            err.print(f"converted to {result['converted']}: predictions moved by at most "
                      f"{result['max_abs_diff_vs_trained']:.2g} from the model as trained", highlight=False)
        print(result["path"])


@app.command()
def plot(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run folders to compare.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The PNG to write.")] = Path("learning_curves.png"),
) -> None:
    """Overlay the learning curves of several runs in one figure."""
    from nnctl import api

    written = api.plot(run_dirs, output)
    err.print(f"learning curves of {len(run_dirs)} runs", highlight=False)
    print(written)


@app.command()
def report(
    targets: Annotated[list[Path], typer.Argument(help="A run folder, a sweep folder, or several runs to compare.")],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="The HTML file to write [default: report.html in the one target, else here].")] = None,
) -> None:
    """Write one self-contained HTML report (a run, a sweep, or runs side by side); print its path."""
    from nnctl import api

    print(api.report(targets, output))
