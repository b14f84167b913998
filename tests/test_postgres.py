"""A searching sweep on a real PostgreSQL server (Debian's postgresql, `initdb` in a temporary
folder, a free loopback port), as several machines share one: three `nnctl sweep` processes
started together on a fresh database with their own run folders, one killed with SIGKILL mid-point
and started again. The study ends with exactly its trials, each once. And the mistakes a user
makes with --storage are one line."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import IRIS, nnctl, nnctl_command, one_line_error, write_config

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
TRIALS = 6

pytestmark = pytest.mark.slow  # a PostgreSQL server and three processes through a kill: the slow tier (.ci/run runs it)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def database() -> str:
    """postgresql://... of a fresh database on a server of its own, stopped after the module."""
    if not BIN:
        pytest.skip("Debian's postgresql package is not installed (.ci/run installs it)")
    pg = Path(BIN[-1])
    # Outside pytest's own temporary folders (mode 0700 for their owner): the server's user reads it.
    data = Path(tempfile.mkdtemp(prefix="nnctl-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: its own system user runs it
        shutil.chown(data, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, pg / "initdb", "-D", data, "-A", "trust", "-U", "nnctl"], check=True,
                   capture_output=True)
    port = _free_port()
    server = subprocess.Popen([*as_user, pg / "postgres", "-D", data, "-k", data, "-h", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while subprocess.run([pg / "pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True).returncode:
        assert time.time() < deadline and server.poll() is None, "postgres did not start"
        time.sleep(0.2)
    subprocess.run([pg / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "nnctl", "study"], check=True)
    yield f"postgresql://nnctl@127.0.0.1:{port}/study"
    subprocess.run([*as_user, pg / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], capture_output=True, timeout=60)
    server.wait(timeout=30)
    shutil.rmtree(data, ignore_errors=True)


def _start(cfg: Path, url: str, runs: Path) -> subprocess.Popen:
    return subprocess.Popen([*nnctl_command(), "sweep", str(cfg), "--space", "optimizer.learning_rate=log(0.005, 0.1)",
                             "--trials", str(TRIALS), "--storage", url, "--parallel", "1", "--runs-dir", str(runs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_three_processes_on_a_fresh_database_share_one_study_through_a_kill(tmp_path: Path, database: str) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS + "epochs: 40\nbatch_size: 8\n")
    procs = [_start(cfg, database, tmp_path / f"machine{i}") for i in range(3)]  # at once: the schema race
    victim = tmp_path / "machine0"
    deadline = time.time() + 120
    while not any(json.loads(m.read_text() or "{}").get("epochs", 0) >= 1 for m in victim.glob("*/*/metrics.json")):
        assert time.time() < deadline and procs[0].poll() is None, procs[0].stderr.read() if procs[0].poll() else ""
        time.sleep(0.1)
    os.killpg(procs[0].pid, signal.SIGKILL)
    procs[0].wait()
    procs[0] = _start(cfg, database, victim)  # the same machine starts it again
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "Traceback" not in err and "internal error" not in err, err
    import optuna

    (study_name,) = optuna.get_all_study_names(storage=database)
    trials = optuna.load_study(study_name=study_name, storage=database).get_trials(deepcopy=False)
    counted = [t for t in trials if not t.user_attrs.get("requeued")]
    assert len(counted) == TRIALS and all(t.state.name == "COMPLETE" for t in counted), \
        [(t.number, t.state.name, t.user_attrs) for t in trials]
    # Each trial once: one completed run folder per counted trial, across the three machines.
    folders = [Path(t.user_attrs["run_dir"]) for t in counted]
    assert len(set(folders)) == TRIALS
    assert all(json.loads((f / "metrics.json").read_text())["status"] == "completed" for f in folders)


def test_storage_mistakes_are_one_line(tmp_path: Path, database: str) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS + "epochs: 1\n")
    space = ["--space", "optimizer.learning_rate=log(0.005, 0.1)", "--trials", "1"]
    port = _free_port()  # nothing listens there
    error = one_line_error(nnctl("sweep", cfg, *space, "--storage", f"postgresql://nnctl@127.0.0.1:{port}/x"))
    assert error.startswith("error: --storage: cannot use the database") and "Traceback" not in error
    error = one_line_error(nnctl("sweep", cfg, *space, "--storage", database.replace("nnctl@", "nobody@")))
    assert error.startswith("error: --storage: cannot use the database") and "nobody" in error
    error = one_line_error(nnctl("sweep", cfg, *space, "--storage", "mysql://u@127.0.0.1/x"))
    assert error.startswith("error: --storage: ") and ("driver" in error or "cannot use" in error)
