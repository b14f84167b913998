"""A fake engine for the fast tier (as llm's MockModel): a point "trains" in a millisecond by writing
an ordinary run folder (config.yaml, metrics.json through nnctl's own RunFolder and Record), its
validation values a known function of its config, so that which point is best is known in advance.

    val loss = |log10(learning_rate) + 2| + units / 1000     (best: learning rate 0.01, few units)
    val r2_score = 1 - val loss                               (rises: the best has the highest)

`epochs: 13` fails the point (exit 1, as a run whose training failed); `epochs: 99` kills its worker.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from pathlib import Path

from nnctl.config import dump_yaml, flatten, load_config
from nnctl.errors import UserError
from nnctl.run.folder import RunFolder
from nnctl.run.record import Record
from nnctl.sweeps.executor import Reply, Request


def train(request: Request) -> Reply:
    """One point, as `train_config` would give it back."""
    try:
        cfg = load_config(request.config, request.overrides)
    except UserError as e:
        return Reply(2, error=str(e))
    if cfg.epochs == 99:
        return Reply(-9, error="the worker died while training this point (exit -9)")
    run = RunFolder.create(Path(request.runs_dir), request.name or cfg.name or "run")
    resolved = cfg.model_dump(mode="json")
    run.write(run.config, dump_yaml(resolved))
    optimizer = resolved["optimizer"] if isinstance(resolved["optimizer"], dict) else {}
    lr = float(optimizer.get("learning_rate") or 0.001)
    units = next((spec["Dense"].get("units", 0) for spec in resolved["layers"]
                  if isinstance(spec, dict) and isinstance(spec.get("Dense"), dict)), 0)
    loss = abs(math.log10(lr) + 2) + units / 1000
    status = "failed" if cfg.epochs == 13 else "completed"
    val = {"loss": loss, "r2_score": 1 - loss}
    rec = Record(status=status, started_at=time.time(), task="regression", epochs=cfg.epochs, val=val,
                 test={"loss": loss * 1.1, "r2_score": 1 - loss * 1.1}, hparams=flatten(resolved),
                 directions={"loss": "min", "r2_score": "max"}, duration_s=0.001)
    run.write_record(rec)
    if status == "failed":
        return Reply(1, str(run.path), status, error=f"training failed: epochs 13; run folder: {run.path}")
    return Reply(0, str(run.path), status, val, rec.test)


class FakeWorker:
    """An executor's worker that trains in this process with the fake engine."""

    def __init__(self, trained: list[str] | None = None, stop_after: int | None = None) -> None:
        self.trained = trained if trained is not None else []
        self.stop_after = stop_after  # after this many points, Ctrl-C the process (as a user would)
        self.stopping = False

    def run(self, request: Request) -> Reply:
        if self.stopping:  # terminated by the sweep's stop: the point ends interrupted
            return Reply(130, error="interrupted")
        reply = train(request)
        self.trained.append(threading.current_thread().name)
        if self.stop_after is not None and len(self.trained) >= self.stop_after:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.3)  # the sweep's main thread sees the stop and terminates its workers
        return reply

    def terminate(self) -> None:
        self.stopping = True

    def kill(self) -> None:
        self.stopping = True

    def close(self) -> None:
        pass
