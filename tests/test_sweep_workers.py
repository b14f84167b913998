"""Warm sweep workers: a point trained in a worker (TensorFlow imported once, point after point)
equals `nnctl train` with the same overrides, and a point that kills its worker is recorded failed
while the next point gets a new worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import IRIS as BASE
from conftest import nnctl, start_nnctl, write_config

IRIS = BASE + "epochs: 5\n"


def test_a_warm_workers_point_equals_a_standalone_run(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS)
    sweep = nnctl("sweep", cfg, "--grid", "optimizer.learning_rate=0.2,0.03", "--json", "--parallel", "1")
    assert sweep.returncode == 0, sweep.stderr
    second = next(r for r in json.loads(sweep.stdout) if r["optimizer.learning_rate"] == 0.03)  # after another point
    alone = nnctl("train", cfg, "--set", "optimizer.learning_rate=0.03", "--json")
    assert alone.returncode == 0, alone.stderr
    run = Path(json.loads(alone.stdout.strip().splitlines()[-1])["run_dir"])
    assert (Path(second["path"]) / "history.csv").read_text() == (run / "history.csv").read_text()
    a, b = (json.loads((p / "metrics.json").read_text()) for p in (Path(second["path"]), run))
    assert a["test"] == b["test"] and a["val"] == b["val"] and a["params"] == b["params"]


@pytest.mark.slow  # a worker killed mid-point: the slow tier (.ci/run)
def test_a_point_that_kills_its_worker_is_failed_and_the_next_gets_a_new_worker(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS.replace("epochs: 5", "epochs: 40"))
    p = start_nnctl("sweep", cfg, "--grid", "optimizer.learning_rate=0.01,0.02", "--json", "--parallel", "1")
    out: dict[str, str] = {}
    reader = threading.Thread(target=lambda: out.update(zip(("stdout", "stderr"), p.communicate(), strict=True)))
    reader.start()
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "runs").glob("*/iris-p001-*/history.csv")):
        time.sleep(0.2)
    pids = subprocess.run(["pgrep", "-f", "nnctl.sweeps.worker"], capture_output=True, text=True).stdout.split()
    workers = [int(x) for x in pids if f"NNCTL_RUNS_DIR={tmp_path}" in Path(f"/proc/{x}/environ").read_bytes()
               .decode(errors="replace").replace("\0", " ")]
    assert len(workers) == 1
    os.kill(workers[0], signal.SIGKILL)  # what a segfault or the OOM killer does to it
    reader.join(timeout=300)
    assert p.returncode == 1, out.get("stderr")
    manifest = json.loads(next((tmp_path / "runs").glob("*/sweep.json")).read_text())
    first, second = manifest["points"]
    assert first["status"] == "failed" and "worker died" in first["error"], first
    assert second["status"] == "completed"
    assert json.loads((Path(second["run_dir"]) / "metrics.json").read_text())["status"] == "completed"
