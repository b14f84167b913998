"""Sweeps under faults, as a user causes them: SIGKILL of the sweep's process (alone, or its whole
process group) mid-point leaves no worker behind within seconds, and running the same command
again resumes the killed point in its own folder: every point is listed once, with the metrics an
uninterrupted sweep gives. The same for an Optuna search: its study counts each trial once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import IRIS, nnctl, nnctl_command, write_config

GRID = ["--grid", "optimizer.learning_rate=0.05,0.02,0.01", "--parallel", "1"]

pytestmark = pytest.mark.slow  # kill -9 soaks of sweeps and searches: the slow tier (.ci/run runs it)


def workers_of(runs: Path) -> list[int]:
    """The warm worker processes training into `runs` (found by the environment they inherited)."""
    pids = subprocess.run(["pgrep", "-f", "nnctl.sweeps.worker"], capture_output=True, text=True).stdout.split()
    found = []
    for pid in pids:
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if f"NNCTL_RUNS_DIR={runs}\0" in env + "\0":
            found.append(int(pid))
    return found


def start_sweep(runs: Path, *args: object) -> subprocess.Popen:
    """`nnctl sweep` in a process group of its own, as a shell job is."""
    return subprocess.Popen([*nnctl_command(), "sweep", *map(str, args)],
                            env={**os.environ, "NNCTL_RUNS_DIR": str(runs)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def wait_for(condition: object, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def completed(folder: Path) -> int:
    return sum(1 for m in folder.glob("*/metrics.json") if json.loads(m.read_text() or "{}").get("status")
               == "completed") if folder.is_dir() else 0


def mid_point(folder: Path) -> bool:
    """A point past its first epoch and far from its last (80): the kill lands mid-point however
    loaded the machine is."""
    for m in folder.glob("*/metrics.json"):
        meta = json.loads(m.read_text() or "{}")
        if meta.get("status") == "running" and 1 <= meta.get("epochs", 0) <= 20:
            return True
    return False


def kill_and_measure(p: subprocess.Popen, runs: Path, group: bool) -> float:
    """SIGKILL the sweep (or its process group); seconds until no worker of it is left."""
    assert workers_of(runs), "no worker to orphan"
    os.killpg(p.pid, signal.SIGKILL) if group else os.kill(p.pid, signal.SIGKILL)
    p.wait()
    killed = time.time()
    wait_for(lambda: not workers_of(runs), timeout=10)
    return time.time() - killed


EPOCHS = "epochs: 80\nbatch_size: 8\n"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[float, dict]:
    """The grid's rows as a sweep nobody killed gives them, by learning rate."""
    tmp = tmp_path_factory.mktemp("clean")
    cfg = write_config(tmp / "iris.yaml", IRIS + EPOCHS)
    clean = nnctl("sweep", cfg, *GRID, "--json", "--no-report", "--runs-dir", tmp / "runs")
    assert clean.returncode == 0, clean.stderr
    return {r["optimizer.learning_rate"]: r for r in json.loads(clean.stdout)}


@pytest.mark.parametrize("group", [False, True], ids=["sweep-process", "process-group"])
def test_a_killed_sweep_leaves_no_worker_and_its_rerun_trains_each_point_once(
        tmp_path: Path, group: bool, uninterrupted: dict[float, dict]) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS + EPOCHS)
    runs = tmp_path / "runs"
    p = start_sweep(runs, cfg, *GRID, "--no-report")
    wait_for(lambda: any(completed(f) >= 1 and mid_point(f) for f in runs.glob("*-sweep-*")))
    orphan_s = kill_and_measure(p, runs, group)
    assert orphan_s < 5, orphan_s
    (folder,) = runs.glob("*-sweep-*")
    interrupted = [m for m in folder.glob("*/metrics.json") if json.loads(m.read_text())["status"] == "interrupted"]
    assert len(interrupted) == 1  # the point in progress stopped at its batch, resumable
    again = nnctl("sweep", cfg, *GRID, "--json", "--no-report")
    assert again.returncode == 0, again.stderr
    rows = json.loads(nnctl("runs", folder, "--json").stdout)
    assert len(rows) == 3 and {r["status"] for r in rows} == {"completed"}
    assert sorted(r["optimizer.learning_rate"] for r in rows) == [0.01, 0.02, 0.05]
    resumed = json.loads(interrupted[0].read_text())
    assert resumed["resumed"] and resumed["status"] == "completed"  # the same folder, continued
    for r in rows:  # the metrics an uninterrupted sweep gives (exact resume)
        assert r["val.loss"] == uninterrupted[r["optimizer.learning_rate"]]["val.loss"], r


def test_a_killed_search_counts_each_trial_once_on_its_rerun(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS + EPOCHS)
    runs = tmp_path / "runs"
    search = ["--space", "optimizer.learning_rate=log(0.005, 0.1)", "--trials", "3", "--parallel", "1", "--seed", "3",
              "--no-report"]
    p = start_sweep(runs, cfg, *search)
    wait_for(lambda: any(completed(f) >= 1 and mid_point(f) for f in runs.glob("*-search-*")))
    assert kill_and_measure(p, runs, group=False) < 5
    again = nnctl("sweep", cfg, *search)
    assert again.returncode == 0, again.stderr
    (folder,) = runs.glob("*-search-*")
    rows = json.loads(nnctl("runs", folder, "--json").stdout)
    assert len(rows) == 3 and {r["status"] for r in rows} == {"completed"}, rows
    trials = json.loads((folder / "search.json").read_text())["trials"]
    assert len(trials) == 3 and sorted(t["run_dir"] for t in trials) == sorted(r["path"] for r in rows)
