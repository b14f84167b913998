"""A searching sweep's point reports its objective to the Optuna study after every epoch, and
stops early when the study's pruner says it falls behind (the run's status is then `pruned`).

The sweep hands the point its trial with the request (storage, study name, trial id, the logged
name of the objective, the pruner); a run started by hand has none and is never pruned.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from nnctl.backend import keras
from nnctl.engine import checkpoint
from nnctl.errors import UserError, one_line


def open_storage(spec: str) -> Any:
    """A database URL (sqlite:///..., postgresql://...) as Optuna takes it; a file path is Optuna's
    journal file, whose lock is safe for several processes and machines sharing a folder."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if "://" in spec:
        return _database(spec)
    return JournalStorage(JournalFileBackend(spec))


SCHEMA_TRIES = 8  # processes starting together on a fresh database race to create Optuna's tables


def _database(url: str) -> Any:
    """Optuna's RDBStorage on `url`; a missing driver, an unreachable server or refused credentials
    are one line naming --storage. Creating the tables is retried: on a fresh database, processes
    started together (on one machine or several) race to create them, and all but one lose."""
    import random

    import optuna
    from sqlalchemy import exc

    scheme = url.split("://", 1)[0]
    for attempt in range(SCHEMA_TRIES):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except ImportError as e:
            extra = {"postgresql": "nnctl[postgres] (psycopg 3)", "mysql": "a MySQL driver (mysqlclient or PyMySQL)"}
            need = next((v for k, v in extra.items() if scheme.startswith(k)), "its SQLAlchemy driver")
            raise UserError(f"no database driver for {scheme}:// ({one_line(e)}); install {need}, e.g. "
                            "pip install 'nnctl[postgres]'", "--storage") from None
        except exc.OperationalError as e:
            raise UserError(f"cannot use the database {_safe(url)}: {one_line(e.orig or e)}", "--storage") from None
        except (exc.IntegrityError, exc.ProgrammingError) as e:  # the schema race: another process made them
            if attempt == SCHEMA_TRIES - 1:
                raise UserError(f"could not create Optuna's tables in {_safe(url)}: {one_line(e.orig or e)}",
                                "--storage") from None
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.3)
        except (exc.ArgumentError, ValueError) as e:
            raise UserError(f"bad value {_safe(url)!r}: {one_line(e)}", "--storage") from None
    raise AssertionError("unreachable")


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    import re

    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


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
