"""Train a config, as `nnctl train`, `nnctl.train()` and a sweep's worker all do: the config
loaded and overridden, a run to resume found and checked, cross-validation dispatched, the
run prepared and trained. Returns the run folder and the result `nnctl train --json` prints."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nnctl.config import Config, Overrides, items, load_config
from nnctl.engine.reporter import NullReporter, Reporter
from nnctl.errors import RunEnded, UserError, one_line
from nnctl.run import folder as runs

ConfigSource = str | Path | Mapping[str, Any]


def load(config: ConfigSource | None, overrides: Overrides = None, resume: Path | None = None,
         name: str | None = None) -> tuple[Config, Path | None]:
    """The config to train and the folder its relative data paths start from (None: the working
    folder, for a config given as a mapping); with `resume`, the run's own config by default."""
    if config is None and resume is None:
        raise UserError("give a CONFIG to train, or --resume RUN_DIR to continue a run")
    if config is None:
        cfg, source = runs.read_config(resume, items(overrides)), resume / runs.CONFIG
    elif isinstance(config, Mapping):
        cfg, source = load_config(config, overrides), None
    else:
        cfg, source = load_config(config, overrides), Path(config)
    if name is not None:
        cfg.name = name
    return cfg, None if source is None else source.parent


def train_config(config: ConfigSource | None, overrides: Overrides = None, runs_dir: Path | None = None,
                 name: str | None = None, resume: Path | None = None, mlflow: bool = False,
                 reporter: Reporter | None = None, trial: dict[str, Any] | None = None) -> tuple[Path, dict[str, Any]]:
    """Train `config` (a YAML path or a mapping) into a new run folder in `runs_dir`, or continue the
    run `resume`; `trial`: a searching sweep's trial (its point reports to the study and may be pruned).
    Returns (run folder, result); raises UserError, TrainingFailed or Interrupted."""
    from nnctl.engine.prepare import prepare
    from nnctl.run.text import sizes_line
    from nnctl.training.trainer import check_resumable, result
    from nnctl.training.trainer import train as train_run

    reporter = reporter or NullReporter()
    runs_dir = runs_dir or runs.default_runs_dir()
    run = runs.resolve_run(str(resume), runs_dir) if resume else None
    cfg, config_dir = load(config, overrides, run, name)
    if run is not None:
        check_resumable(run)
    if cfg.data.folds is not None and cfg.data.fold is None:
        if run is not None:
            raise UserError(f"a cross-validation run is resumed fold by fold: nnctl train --resume {run}/fold-N",
                            "--resume")
        from nnctl.training.folds import train_folds

        path, out = train_folds(cfg, config_dir, runs_dir, reporter, mlflow)
        _report(path, cfg, reporter)
        return path, out
    prep = prepare(cfg, config_dir, distributed=True)
    for w in prep.warnings:
        reporter.note(f"warning: {w}")
    doing = f"resuming {run}" if run else f"training {prep.cfg.name}"
    reporter.note(f"{doing}: {sizes_line(prep.data.sizes())} examples, {prep.cfg.epochs} epochs")
    try:
        path, rec = train_run(prep, runs_dir, reporter, resume=run, mlflow=mlflow, trial=trial,
                              overrides=items(overrides))
    except RunEnded as e:  # a failed or interrupted run's report says why, first
        if prep.dist.chief and e.run is not None:
            _report(e.run, cfg, reporter)
        raise
    if prep.dist.chief:
        _report(path, cfg, reporter)
    return path, result(path, rec)


def _report(run: Path, cfg: Config, reporter: Reporter) -> None:
    """report.html into the run folder (config key `report`); a report that cannot be written is a
    warning: the trained run stands."""
    if not cfg.report:
        return
    from nnctl import report

    try:
        report.write([run])
    except Exception as e:  # noqa: BLE001
        reporter.note(f"warning: {run}/{report.REPORT} not written: {one_line(e)}")
