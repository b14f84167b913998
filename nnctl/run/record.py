"""metrics.json, typed: what a run did, as it goes (status "running") and once it ends.

`Record` is the file's schema (`nnctl schema --metrics` prints it as JSON Schema). Keys a newer
or older nnctl wrote are kept as they are (`extra="allow"`), so reading and rewriting an old run
loses nothing; the optional keys below are left out of the file until they have a value.
"""

from __future__ import annotations

import csv
import io
import platform
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nnctl.version import __version__

Status = Literal["running", "completed", "failed", "interrupted", "pruned"]
_OPTIONAL = ("started_at", "reason", "resumed", "kept_epoch", "best", "throughput", "mlflow", "precision", "decision",
             "overrides", "baseline")


class Record(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Status = Field("running", description="running, completed, failed, interrupted or pruned (by a "
                                               "searching sweep)")
    started_at: float | None = Field(None, description="when the run first started (Unix time)")
    task: str | None = Field(None, description="classification, binary, multilabel or regression")
    epochs: int = Field(0, description="complete epochs so far")
    best_epoch: int | None = Field(None, description="the epoch with the best monitored value (1-based)")
    kept_epoch: int | None = Field(None, description="the epoch whose weights model.keras holds")
    val: dict[str, float] = Field(default_factory=dict, description="validation metrics of the kept epoch")
    test: dict[str, float] = Field(default_factory=dict, description="test metrics of model.keras")
    best: dict[str, Any] | None = Field(None, description="monitor, value and epoch of the best epoch")
    duration_s: float = Field(0.0, description="training time over every session, in seconds")
    reason: str | None = Field(None, description="why a run failed or was interrupted")
    params: dict[str, int] = Field(default_factory=dict, description="trainable, non-trainable and total")
    dataset: dict[str, Any] = Field(default_factory=dict, description="name, source, sizes, fingerprints, ...")
    warnings: list[str] = Field(default_factory=list, description="what the checks warned about")
    versions: dict[str, str] = Field(default_factory=dict, description="nnctl, tensorflow, keras, python")
    threads: dict[str, int] = Field(default_factory=dict, description="TensorFlow's thread pools (0: all cores)")
    steps_per_execution: int | None = Field(None, description="batches per compiled call")
    checkpoint_every: float | str | None = Field(None, description='the checkpoint interval: "epoch", or seconds '
                                                 "of training (a kill loses at most that much)")
    distribution: dict[str, Any] = Field(default_factory=dict, description="strategy, replicas, workers, ...")
    mixed_precision: str | None = Field(None, description="the Keras dtype policy the run trains in")
    precision: dict[str, str] | None = Field(None, description="policy, requested (auto or a policy), reason")
    directions: dict[str, str] = Field(default_factory=dict, description="each metric's max or min, Keras' own")
    hparams: dict[str, Any] = Field(default_factory=dict, description="the resolved config as dotted keys")
    throughput: dict[str, Any] | None = Field(None, description="training examples/s and FLOP/s of this session")
    resumed: list[dict[str, Any]] | None = Field(None, description="each resume: at_epoch, time")
    mlflow: dict[str, Any] | None = Field(None, description="run_id, experiment, tracking_uri")
    decision: dict[str, Any] | None = Field(None, description="a binary classifier's threshold: how it was chosen "
                                            "(on validation), its validation and test values")
    overrides: list[str] | None = Field(None, description="the --set items the run was trained with")
    baseline: dict[str, Any] | None = Field(None, description="the naive prediction's validation and test metrics "
                                            "(majority class or training mean)")

    def dump(self) -> dict[str, Any]:
        """The JSON object metrics.json holds."""
        data = self.model_dump(mode="json")
        return {k: v for k, v in data.items() if not (v is None and k in _OPTIONAL)}

    def end(self, status: Status, duration_s: float, reason: str | None = None) -> None:
        self.status, self.duration_s = status, duration_s
        if reason:
            self.reason = reason


def versions() -> dict[str, str]:
    import tensorflow as tf

    from nnctl.backend import keras

    return {"nnctl": __version__, "tensorflow": tf.__version__, "keras": keras().__version__,
            "python": platform.python_version()}


def threads() -> dict[str, int]:
    """TensorFlow's thread pools in this process (0: TensorFlow's default, all cores)."""
    import tensorflow as tf

    return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}


def started(**fields: Any) -> Record:
    """A new run's record, with this process's versions and threads."""
    return Record(status="running", started_at=time.time(), versions=versions(), threads=threads(), **fields)


def history_csv(history: list[dict[str, float]]) -> str:
    """history.csv: one row per epoch (1-based), every logged value as Python's repr (exact)."""
    cols = list(dict.fromkeys(k for row in history for k in row))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["epoch", *cols])
    for i, row in enumerate(history, 1):
        w.writerow([i, *(repr(row[c]) if c in row else "" for c in cols)])
    return buf.getvalue()


def validation(logs: dict[str, float]) -> dict[str, float]:
    """The validation values of an epoch's logs, without their val_ prefix."""
    return {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
