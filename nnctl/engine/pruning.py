"""A searching sweep's point reports its objective to the Optuna study after every epoch, and
stops early when the study's pruner says it falls behind (the run's status is then `pruned`).

The sweep hands the point its trial with the request (storage, study name, trial id, the logged
name of the objective, the pruner); a run started by hand has none and is never pruned.
"""

from __future__ import annotations

import functools
from typing import Any

from nnctl.backend import keras
from nnctl.engine import checkpoint
from nnctl.errors import UserError


def open_storage(spec: str) -> Any:
    """A database URL (sqlite:///..., postgresql://...) as Optuna takes it; a file path is Optuna's
    journal file, whose lock is safe for several processes and machines sharing a folder."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if "://" in spec:
        return spec
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return JournalStorage(JournalFileBackend(spec))


def pruner(kind: str, epochs: int) -> Any:
    """The study's pruner. It lives in each process, not in the storage: the sweep and its points
    build the same one from the same words."""
    import optuna

    # Median: after two finished points, and not in the first quarter of the epochs (early values are noise).
    return {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=max(1, epochs // 4)),
            "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs),
            "none": optuna.pruners.NopPruner}[kind]()


def Pruning(trial: dict[str, Any], state: checkpoint.State) -> Any:  # noqa: N802  (a class, made on first use)
    """The Pruning callback of a searching sweep's point."""
    return _pruning_class()(trial, state)


@functools.cache
def _pruning_class() -> type:
    """Defined on first use: Keras is imported only by a point that a searching sweep runs (the sweep
    itself opens the storage and builds the pruner without TensorFlow)."""
    K = keras()

    class Pruning(K.callbacks.Callback):
        """Report the objective each epoch; on the pruner's word, stop after this epoch (saved as any)."""

        def __init__(self, spec: dict[str, Any], state: checkpoint.State) -> None:
            import optuna

            super().__init__()
            self.state, self.objective, self.pruned = state, spec["objective"], False
            self.study = optuna.load_study(study_name=spec["study"], storage=open_storage(spec["storage"]),
                                           pruner=pruner(spec["prune"], spec["epochs"]))
            self.trial = optuna.trial.Trial(self.study, spec["trial_id"])

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            value = (logs or {}).get(self.objective)
            if value is None:
                raise UserError(f"the sweep's objective {self.objective!r} is not logged; this run logs "
                                f"{', '.join(sorted(logs or {}))}", "--objective")
            self.trial.report(float(value), epoch + 1)
            if self.trial.should_prune():
                self.pruned = True
                self.state.stopped_early = True  # the loop ends after this epoch; the run is tested as any

    return Pruning
