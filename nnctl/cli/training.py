"""Commands that check and train configs: train, validate, summary, config show."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from nnctl.cli.app import JsonOpt, RunsDirOpt, SetOpt, app, err, new_app, out, runs_dir_or_default, warn
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
) -> None:
    """Validate, build, train and test a model; print the run folder's path last."""
    from nnctl.config import load_config
    from nnctl.errors import RunEnded, UserError
    from nnctl.run import folder as runs

    run = runs.resolve_run(str(resume), runs_dir_or_default(runs_dir)) if resume else None
    if config is None and run is None:
        raise UserError("give a CONFIG to train, or --resume RUN_DIR to continue a run")
    sets = [*(set_ or []), *([f"epochs={epochs}"] if epochs else [])]
    cfg = load_config(config, sets) if config is not None else runs.read_config(run, sets)
    from nnctl.commands.train import check_resumable
    from nnctl.commands.train import train as train_run

    if run is not None:
        check_resumable(run)
    source = config or run / runs.CONFIG
    if name is not None:
        cfg.name = name
    from nnctl.engine.prepare import prepare
    from nnctl.run.text import sizes_line

    if cfg.data.folds is not None and cfg.data.fold is None:
        if run is not None:
            raise UserError(f"a cross-validation run is resumed fold by fold: nnctl train --resume {run}/fold-N",
                            "--resume")
        _train_folds(cfg, source.parent, runs_dir_or_default(runs_dir), mlflow, as_json)
        return
    prep = prepare(cfg, source.parent, distributed=True)
    warn(prep.warnings)

    doing = f"resuming {run}" if run else f"training {prep.cfg.name}"
    err.print(f"{doing}: {sizes_line(prep.data.sizes())} examples, {prep.cfg.epochs} epochs", highlight=False)
    try:
        run, rec = train_run(prep, runs_dir_or_default(runs_dir), Progress(err), resume=run, mlflow=mlflow)
    except RunEnded as e:
        if as_json and e.run is not None:  # a sweep script still learns which folder and why
            print(json.dumps({"run_dir": str(e.run), "status": e.status, "error": str(e)}))
        raise
    dist = rec.distribution
    if rec.test:  # a non-chief worker tests nothing: the chief does
        print_metrics("test", rec.test, err)
    elif not dist.get("chief", True):
        err.print(f"worker {dist['worker']} done; the chief writes {run}", highlight=False)
    if as_json:  # one line, last: `nnctl train --json ... | tail -1` is the whole result
        result = {"run_dir": str(run), "status": rec.status, "test": rec.test, "val": rec.val,
                  "best_epoch": rec.best_epoch, "epochs": rec.epochs, "duration_s": rec.duration_s}
        if dist.get("strategy", "none") != "none":
            result.update({k: dist.get(k) for k in ("chief", "worker", "weights_sha256")})
        print(json.dumps(result))
    else:
        print(run)


def _train_folds(cfg: Any, config_dir: Path, runs_dir: Path, mlflow: bool, as_json: bool) -> None:
    from nnctl.commands.folds import train_folds
    from nnctl.run.text import sizes_line

    def on_fold(i: int, k: int, prep: Any) -> None:
        warn(prep.warnings)
        err.print(f"training {prep.cfg.name} fold {i}/{k}: {sizes_line(prep.data.sizes())} examples, "
                  f"{prep.cfg.epochs} epochs", highlight=False)

    run, meta = train_folds(cfg, config_dir, runs_dir, Progress(err), mlflow, on_fold)
    std = meta["folds"]
    for split in ("val", "test"):
        err.print(f"{split} over {std['k']} folds: " + ", ".join(
            f"{m} {v:.4f} ± {std[split + '_std'][m]:.4f}" for m, v in meta[split].items()), highlight=False)
    if as_json:
        print(json.dumps({"run_dir": str(run), "status": meta["status"], "test": meta["test"], "val": meta["val"],
                          "folds": std, "duration_s": meta["duration_s"]}))
    else:
        print(run)


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="The YAML config to check.")],
    set_: SetOpt = None,
) -> None:
    """Check a config fully (schema, layers, shapes, task/loss/output) without training."""
    from nnctl.config import load_config

    cfg = load_config(config, set_)
    from nnctl.engine import prepare as core
    from nnctl.run.text import sizes_line

    prep = core.prepare(cfg, config.parent)
    warn(prep.warnings)
    table = prep.data.table
    if table is not None:
        from nnctl.data.profile import lines

        out.print("\n".join(lines(table.columns, table.rows, Path(prep.data.source).name)), highlight=False,
                  markup=False)
    c = prep.cfg
    what = (f"{c.task}, {len(c.layers)} layers" if c.graph is None else
            f"{len(c.layers)} branches, outputs {', '.join(f'{n} ({t.task})' for n, t in c.data.targets.items())}")
    out.print(f"{config}: ok: {what}, "
              f"{prep.model.count_params():,} parameters; data: {sizes_line(prep.data.sizes())} examples",
              highlight=False)
    from nnctl.engine import precision

    err.print(precision.line(prep.precision.info()), highlight=False, markup=False)


@app.command()
def summary(
    target: Annotated[
        Optional[Path], typer.Argument(help="A config or a run folder [default: the latest run].")
    ] = None,
    set_: SetOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Print the Keras model summary of a config (without training) or of a run."""
    from nnctl.run import folder as runs

    if target is not None and not target.is_dir():
        from nnctl.config import load_config

        cfg = load_config(target, set_)
        from nnctl.engine import prepare as core

        out.print(core.summarize(cfg, target.parent), end="", markup=False, highlight=False)
        return
    run = runs.resolve_run(str(target) if target else None, runs_dir_or_default(runs_dir))
    out.print(f"run: {run}", highlight=False)
    try:
        text = (run / runs.SUMMARY).read_text()
    except (OSError, UnicodeDecodeError):  # written at the start of every run; rebuilt from the model if lost
        from nnctl.model.build import summary_text

        text = summary_text(runs.RunFolder(run).load_model())
    out.print(text, end="", markup=False, highlight=False)


config_app = new_app("Look at configs.")  # its commands end through `handled` too
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
    from nnctl.config import dump_yaml, load_config

    cfg = load_config(config, set_)
    warn(cfg.translations)
    if infer:
        from nnctl.engine import prepare as core

        resolved = core.prepare(cfg, config.parent).resolved()
    else:
        resolved = cfg.model_dump(mode="json")
    sys.stdout.write(dump_yaml(resolved))
