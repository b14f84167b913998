"""MLflow tracking, on with `--mlflow` or when MLFLOW_TRACKING_URI is set (mlflow is an optional extra).

Logs the resolved config as params, every epoch's metrics, the test metrics (as test_*),
the run folder's files and the model file. A resumed run continues its MLflow run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import UserError

STATUS = {"completed": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}


def wanted(flag: bool) -> bool:
    return flag or bool(os.environ.get("MLFLOW_TRACKING_URI"))


class Tracker:
    """One MLflow run for one nnctl run folder."""

    def __init__(self, run: Path, experiment: str, hparams: dict[str, Any], meta: dict[str, Any]) -> None:
        try:
            import mlflow
        except ImportError:
            raise UserError("--mlflow needs mlflow: pip install 'nnctl[mlflow]' (or unset MLFLOW_TRACKING_URI)",
                            "--mlflow") from None
        self.mlflow = mlflow
        self.run = run
        mlflow.set_experiment(experiment)
        previous = (meta.get("mlflow") or {}).get("run_id")
        active = mlflow.start_run(run_id=previous) if previous else mlflow.start_run(run_name=run.name)
        self.run_id = active.info.run_id
        meta["mlflow"] = {"run_id": self.run_id, "experiment": experiment, "tracking_uri": mlflow.get_tracking_uri()}
        if not previous:
            mlflow.set_tags({"nnctl.run_dir": str(run.resolve())})
            items = list(hparams.items())
            for i in range(0, len(items), 100):  # MLflow takes at most 100 params per call
                mlflow.log_params({k: str(v)[:500] for k, v in items[i:i + 100]})

    def epoch(self, epoch: int, logs: dict[str, float]) -> None:
        self.mlflow.log_metrics(logs, step=epoch)

    def end(self, status: str, meta: dict[str, Any]) -> None:
        mlflow = self.mlflow
        if meta.get("test"):
            mlflow.log_metrics({f"test_{k}": v for k, v in meta["test"].items()})
        for name in ("config.yaml", "summary.txt", "history.csv", "metrics.json", "evaluation.json"):
            if (self.run / name).is_file():
                mlflow.log_artifact(str(self.run / name))
        if (self.run / "plots").is_dir():
            mlflow.log_artifacts(str(self.run / "plots"), artifact_path="plots")
        if (self.run / "model.keras").is_file():
            mlflow.log_artifact(str(self.run / "model.keras"), artifact_path="model")
        mlflow.end_run(status=STATUS.get(status, "FAILED"))
