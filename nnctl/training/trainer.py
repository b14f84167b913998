"""One training run, top to bottom (as `nnctl train` runs it): a prepared run -> run folder ->
the loop -> best weights -> model.keras -> test metrics -> metrics.json. With `resume`, the run
continues from its newest intact checkpoint instead of starting."""

from __future__ import annotations

import contextlib
import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.config import differences, dump_yaml, flatten
from nnctl.engine import checkpoint, decision, loop, signals
from nnctl.engine.evaluation import test_pass
from nnctl.engine.prepare import Prepared
from nnctl.engine.reporter import NullReporter, Reporter
from nnctl.errors import Interrupted, TrainingFailed, UserError, one_line
from nnctl.model import build as model_mod
from nnctl.model import saved, tasks
from nnctl.run import analysis, mlflow_tracking, plots, record
from nnctl.run.background_writes import Behind
from nnctl.run.folder import RunFolder
from nnctl.run.record import Record, history_csv, validation
from nnctl.run.tensorboard import Log
from nnctl.run.text import precision_line


def train(prep: Prepared, runs_dir: Path, reporter: Reporter | None = None,
          resume: Path | None = None, mlflow: bool = False, into: Path | None = None,
          trial: dict[str, Any] | None = None, overrides: list[str] | None = None) -> tuple[Path, Record]:
    """Fit, test and fill a run folder (a new one in runs_dir, or `into`, made empty by the caller:
    a cross-validation fold); returns (run folder, its record).

    With `mlflow` (or MLFLOW_TRACKING_URI set), also log the run to MLflow. `trial`: a searching
    sweep's trial, reported to after every epoch (see engine/pruning.py). `overrides`: the `--set`
    items, recorded for the report to mark.
    """
    dist = prep.dist
    reporter = reporter or NullReporter()
    if not dist.chief:  # a worker trains in step with the chief and writes nothing
        run = RunFolder(Path(dist.agree("")))
        rec = Record(distribution=dist.info(prep.cfg.batch_size))
        state = _resume_worker(run, prep) if resume else monitor_state(prep)
        return run.path, _train(prep, run, state, rec, reporter, trial=trial)
    run = RunFolder(resume or into) if resume or into else RunFolder.create(runs_dir, prep.cfg.name or "run")
    dist.agree(str(run))  # every worker learns the chief's folder
    with run.lock():
        state, rec = _resume(run, prep, reporter) if resume else _start(run, prep, overrides)
        # A resumed run: why its first session chose the policy, not "set in the config".
        reporter.note(precision_line(rec.precision or prep.precision.info()))
        tracker = None
        if mlflow_tracking.wanted(mlflow):
            tracker = mlflow_tracking.Tracker(run.path, prep.cfg.name or "nnctl", rec.hparams, rec)
            run.write_record(rec)
        try:
            return run.path, _train(prep, run, state, rec, reporter, tracker, trial)
        finally:
            if tracker is not None:
                tracker.end(rec.status, rec)


def result(run: Path, rec: Record) -> dict[str, Any]:
    """What `nnctl train --json` prints last, and a sweep's worker hands back: the run in one line."""
    out = {"run_dir": str(run), "status": rec.status, "test": rec.test, "val": rec.val,
           "best_epoch": rec.best_epoch, "epochs": rec.epochs, "duration_s": rec.duration_s}
    dist = rec.distribution or {}
    if dist.get("strategy", "none") != "none":
        out.update({k: dist.get(k) for k in ("chief", "worker", "weights_sha256")})
    return out


def check_resumable(run: Path) -> None:
    """A run's own files, read before anything is built: a damaged metrics.json, or checkpoints
    with none intact, end as one line at once instead of after TensorFlow and the data load.
    `_resume` reads them again under the run's lock: a run that another process finished meanwhile
    must resume from its newest checkpoint, not from what this check saw."""
    folder = RunFolder(run)
    if folder.metrics.exists():
        folder.read_record()
    checkpoint.candidates(run)


def monitor_state(prep: Prepared) -> checkpoint.State:
    """A fresh State watching early stopping's metric, else val_loss (loss without validation)."""
    es = prep.cfg.early_stopping
    if es is not None:
        return checkpoint.State.start(es.monitor, es.mode, prep.directions)
    return checkpoint.State.start("val_loss" if prep.data.val is not None else "loss", "min")


def _start(run: RunFolder, prep: Prepared, overrides: list[str] | None = None) -> tuple[checkpoint.State, Record]:
    rec = record.started(
        task=prep.cfg.task, params=model_mod.param_counts(prep.model), dataset=prep.data.info(),
        warnings=prep.warnings, steps_per_execution=int(prep.model.steps_per_execution),
        checkpoint_every=prep.cfg.checkpoint_every,
        distribution=prep.dist.info(prep.cfg.batch_size), mixed_precision=prep.precision.policy,
        precision=prep.precision.info(),
        directions=prep.directions,  # how `nnctl runs` and sweeps rank by a metric
        hparams=flatten(prep.resolved()),  # the config as dotted keys: `nnctl runs` reads no YAML
        overrides=overrides or None,
    )
    run.write(run.config, dump_yaml(prep.resolved()))
    run.write(run.summary, model_mod.summary_text(prep.model))
    run.write_record(rec)
    return monitor_state(prep), rec


RESUMABLE = ("epochs", "checkpoint_every")  # what a resume may change: how long, and how often it saves


def _resume(run: RunFolder, prep: Prepared, reporter: Reporter) -> tuple[checkpoint.State, Record]:
    """The run's state after its newest intact epoch, its weights and optimizer in prep.model."""
    cfg = prep.cfg
    stored = run.read_config().model_dump(mode="json")
    changed = [k for k in differences(stored, prep.resolved()) if k not in RESUMABLE]
    if changed:
        raise UserError(f"the config differs from the run's in {', '.join(changed)}; only "
                        f"{' and '.join(RESUMABLE)} may change on resume (start a new run for the rest)", "--resume")
    found = run.read_record() if run.metrics.exists() else None
    states, notes = checkpoint.candidates(run.path)
    if not states:  # killed before its first epoch ended: start over in the same folder
        state, rec = _start(run, prep)
    else:
        newest = states[0]
        if found is not None and found.status == "pruned":
            raise UserError(f"{run} was pruned by its sweep at epoch {newest.epoch}: its objective fell behind the "
                            "other points'; start a new run to train it further", "--resume")
        done = found is not None and found.status == "completed"
        if done and newest.stopped_early:
            raise UserError(f"{run} stopped early at epoch {newest.epoch} (early_stopping); "
                            "there is nothing to resume", "--resume")
        if done and newest.epoch >= cfg.epochs:
            raise UserError(f"{run} has trained all {newest.epoch} epochs; "
                            f"to train longer: nnctl train --resume {run} --epochs {newest.epoch + 5}", "--resume")
        # A run killed after its last epoch but before its test still needs restoring, testing and saving.
        with prep.dist.scope():
            state = checkpoint.restore(run.path, prep.model, states, notes)
        for note in notes:
            reporter.note(f"warning: {note}")
        reporter.note(f"resuming from {checkpoint.FOLDER}/{state.last} (epoch {state.epoch} of {cfg.epochs})")
        # metrics.json deleted: the record starts again, the epochs come from the checkpoint
        rec = found if found is not None else _start(run, prep)[1]
    rec.reason = None
    rec.status, rec.epochs, rec.hparams = "running", state.epoch, flatten(prep.resolved())
    rec.checkpoint_every = cfg.checkpoint_every
    rec.resumed = [*(rec.resumed or []), {"at_epoch": state.epoch, "time": time.time()}]
    run.write(run.config, dump_yaml(prep.resolved()))  # epochs may have grown
    run.write(run.history, history_csv(state.history))  # no rows past the checkpoint resumed
    run.write_record(rec)
    return state, rec


def _resume_worker(run: RunFolder, prep: Prepared) -> checkpoint.State:
    """A multi_worker run resumed on a worker that is not the chief: the checkpoint the chief restores,
    read from the chief's run folder, which every worker must see (shared storage). Both read the
    same files and pass over the same damaged ones, so they restore the same epoch, and their
    collectives (the optimizer's variables are broadcast as they are built) come in the same order."""
    states, notes = checkpoint.candidates(run.path)
    if not states:  # the chief starts over (no epoch was saved)
        return monitor_state(prep)
    with prep.dist.scope():
        return checkpoint.restore(run.path, prep.model, states, notes)


def _train(prep: Prepared, run: RunFolder, state: checkpoint.State, rec: Record, reporter: Reporter,
           tracker: mlflow_tracking.Tracker | None = None, trial: dict[str, Any] | None = None) -> Record:
    """The loop, then what a completed run leaves: best weights, model.keras, test metrics, figures.
    Only the chief writes; another worker trains in step and returns its record."""
    cfg, model, chief = prep.cfg, prep.model, prep.dist.chief
    clock = loop.Clock(before=rec.duration_s)
    board = None
    if chief:
        board = Log(run.path, dump_yaml(prep.resolved()), rec.hparams, first_session=state.epoch == 0)
        plots.import_soon()
    reporter.start(cfg.epochs, loop.steps(prep))
    from nnctl.engine import pruning as pruning_mod  # imports Keras: not before a distribution strategy is set up

    pruning = pruning_mod.Pruning(trial, state) if trial else None  # a searching sweep's point
    behind = Behind()  # the per-epoch files, written behind training: drained before anything else is
    try:
        with signals.on_signals() as stop:
            loop.fit(prep, state, loop.callbacks(prep, state, rec, reporter, clock, stop, run if chief else None, board,
                                                   tracker, pruning, behind))
            behind.drain()
    except BaseException as e:
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C while it drains: the run is still marked
            behind.drain(quiet=True)
        _ended(e, run, rec, state, clock, chief, prep.dist)
        raise
    finally:
        reporter.end()
        if board is not None:
            board.close()

    rec.epochs, rec.best_epoch = state.epoch, state.best_epoch
    if prep.dist.strategy is not None:  # the last epoch's weights, to check that the replicas agree
        rec.distribution["weights_sha256"] = weights_digest(model)
    if not chief:
        rec.end("completed", clock())
        return rec
    kept = state.epoch
    es = cfg.early_stopping
    if es is not None and es.restore_best_weights and state.best_epoch is not None:
        if checkpoint.restore_best(run.path, model):
            kept = state.best_epoch
        else:
            rec.warnings.append(f"{checkpoint.FOLDER}/{checkpoint.BEST} is missing or damaged: the model keeps "
                                "the last epoch's weights, not the best epoch's")
    rec.val = validation(state.history[kept - 1]) if kept else {}
    rec.kept_epoch = kept
    checkpoint.save_model(model, run.model)
    if prep.dist.strategy is not None:
        # Test on a plain copy: the test step, called outside strategy.run, is not meant for mirrored variables.
        model = saved.load_model(run.model)
    logits = cfg.graph is None and tasks.takes_logits(cfg.loss)
    if cfg.task == "binary" and cfg.graph is None:  # the threshold, chosen on validation before any test
        scores = _scores(model, prep.data.val, cfg.batch_size)
        if scores is not None:
            scores = (scores[0], tasks.probabilities(scores[1], cfg.task, logits))
        rec.decision = decision.decide(cfg.decision, scores)
    rec.test, predicted = test_pass(model, prep.data.test, cfg.batch_size)
    if logits:  # what predict writes and the report shows: probabilities, the threshold's scale
        predicted = tasks.probabilities(predicted, cfg.task, logits)
    labels = getattr(prep.data.test, "y", None)
    if rec.decision is not None and isinstance(labels, np.ndarray) and len(labels) == len(predicted):
        rec.decision["test"] = decision.at(labels, predicted, rec.decision["threshold"])  # reported, never chosen on
    try:
        _evidence(prep, model, run, rec, predicted)
    except Exception as e:  # noqa: BLE001  (figures are extras: the trained, tested model stands)
        rec.warnings.append(f"plots/evaluation.json not written: {one_line(e)}")
    rec.end("pruned" if pruning is not None and pruning.pruned else "completed", clock())
    run.write_record(rec)
    return rec


def _evidence(prep: Prepared, model: Any, run: RunFolder, rec: Record, predicted: Any) -> None:
    """What the report shows beyond the metrics: the naive baseline (metrics.json), the test split's
    analysis and figures, and each input column's permutation importance on validation (evaluation.json)."""
    from nnctl.engine import importance
    from nnctl.run import baseline

    cfg, data = prep.cfg, prep.data
    if cfg.graph is None:
        splits = {"val": getattr(data.val, "y", None), "test": getattr(data.test, "y", None)}
        rec.baseline = baseline.naive(cfg.task, prep.resolved().get("loss"), data.train.y, splits,
                                      list(rec.test), data.class_names)
    threshold = rec.decision["threshold"] if rec.decision else 0.5
    features = data.table.features if data.table is not None else None
    details = analysis.analyse(run.path, predicted, data.test, cfg, data.classes, threshold, features)
    if cfg.importance:
        details["importance"] = importance.permutation(model, data.val, cfg.batch_size, cfg.seed, features)
    run.write_json(run.evaluation, {"run": str(run), "test": rec.test, **details, "evaluated_at": time.time()})


def _scores(model: Any, val: Any, batch_size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(labels, positive-class scores) of the validation split, read as training read it (a streamed
    split too); None without one."""
    if val is None:
        return None
    from nnctl.data import pipeline

    pairs = [(np.asarray(y), np.asarray(model(x, training=False))) for x, y in pipeline.dataset(val, batch_size)]
    return (np.concatenate([y for y, _ in pairs]), np.concatenate([p for _, p in pairs])) if pairs else None


def _ended(e: BaseException, run: RunFolder, rec: Record, state: checkpoint.State, clock: loop.Clock,
           write: bool, dist: Any = None) -> None:
    """Mark a run that did not complete, and raise what it ended as (exit 130 or 1)."""
    from nnctl.engine.callbacks import NonFinite, Stop
    from nnctl.engine.distribute import lost_peers

    if isinstance(e, (Stop, KeyboardInterrupt)):
        status, reason = "interrupted", "interrupted (Ctrl-C or SIGTERM)"
        error: Exception = Interrupted(f"interrupted after {state.epoch} complete epoch(s); run folder: {run}; "
                                       f"continue with: nnctl train --resume {run}", run.path)
    elif isinstance(e, NonFinite):
        status, reason = "failed", str(e)
        error = TrainingFailed(f"{e}; run folder: {run}", run.path)
    elif isinstance(e, Exception) and dist is not None and (lost := lost_peers(dist)):
        # A collective that lost a peer: TensorFlow's own message is a graph dump; this names the peer.
        status = "failed"
        reason = (f"lost {', '.join(lost)} during epoch {state.epoch + 1} of a multi_worker run (a process "
                  f"stopped or the network failed); resume it with nnctl train --resume {run} on every worker")
        error = TrainingFailed(f"{reason}; run folder: {run}", run.path)
    elif isinstance(e, Exception):  # anything failing mid-run is a failed run, exit 1
        status, reason = "failed", one_line(e)
        error = TrainingFailed(f"training failed: {reason}; run folder: {run}", run.path)
    else:  # SystemExit and the like: not a run's ending
        return
    rec.end(status, clock(), reason)
    if write:
        run.write_record(rec)
    raise error from None


def weights_digest(model: Any) -> str:
    """sha256 of every weight's bytes: equal on all workers when the replicas stayed in sync."""
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).data)
    return h.hexdigest()
