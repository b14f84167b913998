"""MLflow tracking, on with `--mlflow` or when MLFLOW_TRACKING_URI is set (mlflow is an optional extra).

Logs the resolved config as params, every epoch's metrics, the test metrics (as test_*),
the run folder's files and the model file. A resumed run continues its MLflow run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from nnctl.errors import UserError
from nnctl.run.folder import RunFolder
from nnctl.run.record import Record

STATUS = {"completed": "FINISHED", "pruned": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}


def wanted(flag: bool) -> bool:
    return flag or bool(os.environ.get("MLFLOW_TRACKING_URI"))


class Tracker:
    """One MLflow run for one nnctl run folder."""

    def __init__(self, run: Path, experiment: str, hparams: dict[str, Any], record: Record) -> None:
        try:
            import mlflow
        except ImportError:
            raise UserError("--mlflow needs mlflow: pip install 'nnctl[mlflow]' (or unset MLFLOW_TRACKING_URI)",
                            "--mlflow") from None
        self.mlflow = mlflow
        self.run = RunFolder(run)
        mlflow.set_experiment(experiment)
        previous = (record.mlflow or {}).get("run_id")
        active = mlflow.start_run(run_id=previous) if previous else mlflow.start_run(run_name=run.name)
        self.run_id = active.info.run_id
        record.mlflow = {"run_id": self.run_id, "experiment": experiment, "tracking_uri": mlflow.get_tracking_uri()}
        if not previous:
            mlflow.set_tags({"nnctl.run_dir": str(run.resolve())})
            items = list(hparams.items())
            for i in range(0, len(items), 100):  # MLflow takes at most 100 params per call
                mlflow.log_params({k: str(v)[:500] for k, v in items[i:i + 100]})

    def epoch(self, epoch: int, logs: dict[str, float]) -> None:
        # By run id, through the client: this is called from the thread behind training, and MLflow's
        # active run (the fluent API's) belongs to the thread that started it.
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.mlflow.MlflowClient().log_batch(self.run_id, metrics=[Metric(k, v, now, epoch) for k, v in logs.items()])

    def end(self, status: str, record: Record) -> None:
        mlflow, run = self.mlflow, self.run
        if record.test:
            mlflow.log_metrics({f"test_{k}": v for k, v in record.test.items()})
        for file in (run.config, run.summary, run.history, run.metrics, run.evaluation):
            if file.is_file():
                mlflow.log_artifact(str(file))
        if run.plots.is_dir():
            mlflow.log_artifacts(str(run.plots), artifact_path="plots")
        if run.model.is_file():
            mlflow.log_artifact(str(run.model), artifact_path="model")
        mlflow.end_run(status=STATUS.get(status, "FAILED"))
