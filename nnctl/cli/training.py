"""Commands that check and train configs: train, validate, summary, config show."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from nnctl.cli.app import JsonOpt, NoReportOpt, RunsDirOpt, SetOpt, app, err, new_app, out, warn
from nnctl.cli.show import Progress, print_metrics


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
    as_json: JsonOpt = False,
    mlflow: Annotated[
        bool, typer.Option("--mlflow", help="Also log to MLflow (on by itself when MLFLOW_TRACKING_URI is set).")
    ] = False,
    no_report: NoReportOpt = False,
) -> None:
    """Validate, build, train and test a model, and write its report.html; print the run folder's path last."""
    from nnctl import api
    from nnctl.errors import RunEnded

    sets = [*(set_ or []), *([f"epochs={epochs}"] if epochs else []), *(["report=false"] if no_report else [])]
    try:
        run = api.train(config, sets, runs_dir, name, resume=resume, mlflow=mlflow, reporter=Progress(err))
    except RunEnded as e:
        if as_json and e.run is not None:  # a sweep script still learns which folder and why
            print(json.dumps({"run_dir": str(e.run), "status": e.status, "error": str(e)}))
        raise
    result = run.result
    if result.get("test") and "folds" not in result:  # a non-chief worker tests nothing: the chief does
        print_metrics("test", result["test"], err)
    elif result.get("chief") is False:
        err.print(f"worker {result['worker']} done; the chief writes {run.path}", highlight=False)
    if as_json:  # one line, last: `nnctl train --json ... | tail -1` is the whole result
        print(json.dumps(result))
    else:
        print(run.path)


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="The YAML config to check.")],
    set_: SetOpt = None,
) -> None:
    """Check a config fully (schema, layers, shapes, task/loss/output) without training."""
    from nnctl import api
    from nnctl.run.text import precision_line, sizes_line

    checked = api.validate(config, set_)
    warn(checked.warnings)
    if checked.columns:
        out.print("\n".join(checked.columns), highlight=False, markup=False)
    what = (f"{checked.task}, {checked.layers} layers" if not checked.outputs else
            f"{checked.layers} branches, outputs {', '.join(f'{n} ({t})' for n, t in checked.outputs.items())}")
    out.print(f"{config}: ok: {what}, {checked.parameters:,} parameters; data: {sizes_line(checked.sizes)} examples",
              highlight=False)
    err.print(precision_line(checked.precision), highlight=False, markup=False)


@app.command()
def summary(
    target: Annotated[
        Optional[Path], typer.Argument(help="A config or a run folder [default: the latest run].")
    ] = None,
    set_: SetOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Print the Keras model summary of a config (without training) or of a run."""
    from nnctl import api

    if target is not None and not target.is_dir():
        out.print(api.summary(target, set_), end="", markup=False, highlight=False)
        return
    run = api.Run(target) if target is not None else api.Run.latest(runs_dir)
    out.print(f"run: {run.path}", highlight=False)
    out.print(run.summary(), end="", markup=False, highlight=False)


config_app = new_app("Look at configs.")  # its commands end through `handled` too
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(
    config: Annotated[Path, typer.Argument(help="The YAML config.")],
    set_: SetOpt = None,
    infer: Annotated[
        bool, typer.Option("--infer", help="Also load the data to fill in task, loss, metrics and input shape.")
    ] = False,
    origin: Annotated[
        bool, typer.Option("--origin", help="Each key with the file it came from (extends:), --set, or default.")
    ] = False,
) -> None:
    """The resolved config: every default filled in, --set applied (what a run's config.yaml holds)."""
    from nnctl import api

    shown = api.config_show(config, set_, infer=infer)
    warn(shown.warnings)
    if origin:  # one line per key: KEY: VALUE  # where it was written
        flat = shown.flat()
        width = max(map(len, flat), default=0)
        for key, value in flat.items():
            out.print(f"{key:<{width}}  {json.dumps(value)}  # {shown.origins[key]}", highlight=False, markup=False)
        return
    sys.stdout.write(shown.yaml())
