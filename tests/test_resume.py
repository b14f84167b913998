"""Kill it, resume it, signal it, run it eight times at once: nothing lost, nothing mixed up."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import IRIS, REPO, nnctl, one_line_error, run_dirs, start_nnctl, write_config

DROPOUT_CNN = """
name: resumable
seed: 5
data: {source: digits, validation_split: 0.1, test_split: 0.2}
input_shape: [8, 8, 1]
augmentation: {rotation_range: 10, width_shift_range: 0.1}
layers:
  - Conv2D: {filters: 8, kernel_size: 3, activation: relu}
  - Flatten
  - Dropout: 0.3
  - Dense: {units: 10, activation: softmax}
optimizer: {name: adam, learning_rate: 0.01}
batch_size: 32
epochs: 4
early_stopping: {monitor: val_accuracy, patience: 10}
checkpoint_every: epoch   # these tests inspect and damage each epoch's checkpoint
"""


def history(run: Path) -> list[dict[str, str]]:
    with open(run / "history.csv") as f:
        return list(csv.DictReader(f))


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_resume_extends_epochs_and_matches_an_uninterrupted_run(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "r.yaml", DROPOUT_CNN)
    full = Path(cli("train", cfg).last_line)
    r = cli("train", cfg, "--epochs", "2")
    part = Path(r.last_line)
    assert metrics(part)["epochs"] == 2
    r = cli("train", "--resume", part, "--epochs", "4")
    assert r.exit_code == 0, r.stderr
    assert Path(r.last_line) == part and "resuming" in r.stderr
    assert history(part) == history(full)  # same per-epoch values, to the last printed digit
    a, b = metrics(part), metrics(full)
    assert a["test"] == b["test"] and a["status"] == "completed"
    assert a["resumed"][0]["at_epoch"] == 2 and a["best"] == b["best"]
    assert yaml.safe_load((part / "config.yaml").read_text())["epochs"] == 4
    assert {p.name for p in (part / "checkpoints").iterdir()} == {  # the newest two epochs are kept
        "epoch-3.keras", "epoch-3.json", "epoch-4.keras", "epoch-4.json", "best.keras", "state.json"}


def test_resume_refuses_a_changed_config_and_a_finished_run(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "r.yaml", DROPOUT_CNN)
    run = Path(cli("train", cfg, "--epochs", "1").last_line)
    r = cli("train", cfg, "--resume", run, "--set", "optimizer.learning_rate=0.1", "--set", "batch_size=8")
    assert r.exit_code == 2
    assert "optimizer.learning_rate" in r.stderr and "batch_size" in r.stderr
    assert "only epochs and checkpoint_every" in r.stderr
    r = cli("train", "--resume", run)
    assert r.exit_code == 2 and "has trained all 1 epochs" in r.stderr and "--epochs" in r.stderr
    r = cli("train", "--resume", tmp_path / "nope")
    assert r.exit_code == 2 and "run folder not found" in r.stderr
    r = cli("train")
    assert r.exit_code == 2 and "--resume" in r.stderr


@pytest.mark.slow  # kill -9 soaks: the slow tier (.ci/run); SIGTERM's exact resume stays in the default tier
def test_sigkill_at_a_random_moment_then_resume_matches(tmp_path: Path) -> None:
    """The kill-and-resume script, once: SIGKILL mid-training (and again mid-resume), resume, compare."""
    p = subprocess.run([sys.executable, REPO / "benchmarks" / "kill_resume.py", "--repeats", "1", "--epochs", "3",
                        "--kills", "2", "--seed", "7", "--workdir", tmp_path / "k"],
                       capture_output=True, text=True, timeout=300)
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert p.returncode == 0 and summary["matched"] == 1 and summary["tracebacks"] == 0, p.stdout + p.stderr


def test_short_epochs_write_the_last_one_and_the_interval_is_checked(cli, tmp_path: Path) -> None:
    """The default checkpoint_every (10 s) over epochs of milliseconds: only the last epoch is written,
    best.keras still holds the best epoch (restored into model.keras), metrics.json says the interval."""
    cfg = write_config(tmp_path / "c.yaml", IRIS + "epochs: 6\nearly_stopping: {monitor: val_loss, patience: 20}\n")
    run = Path(cli("train", cfg).last_line)
    assert {p.name for p in (run / "checkpoints").iterdir()} == {"epoch-6.keras", "epoch-6.json", "best.keras",
                                                                 "state.json"}
    meta = metrics(run)
    assert meta["checkpoint_every"] == 10.0 and meta["epochs"] == 6 and meta["kept_epoch"] == meta["best_epoch"]
    same = Path(cli("train", cfg, "--set", "checkpoint_every=epoch").last_line)  # every epoch written
    assert history(same) == history(run) and metrics(same)["checkpoint_every"] == "epoch"
    assert metrics(same)["test"] == meta["test"]  # best.keras from the epoch held in memory: the same weights
    for bad in ("0", "soon", "-5"):
        line = one_line_error(nnctl("train", cfg, "--set", f"checkpoint_every={bad}", cwd=tmp_path))
        assert "checkpoint_every" in line and "epoch" in line and "seconds" in line, line
    assert len(run_dirs(tmp_path)) == 2  # the refused ones wrote nothing


@pytest.mark.slow  # kill -9 soaks: the slow tier (.ci/run)
def test_sigkill_between_two_timed_checkpoints_then_resume_matches(cli, tmp_path: Path) -> None:
    """checkpoint_every: 1 (second) with epochs of a fraction of that: a kill loses the epochs after the newest
    checkpoint, and the resume trains them again to the same values as an unbroken run."""
    cfg = write_config(tmp_path / "timed.yaml", DROPOUT_CNN.replace("epochs: 4", "epochs: 30")
                       .replace("checkpoint_every: epoch", "checkpoint_every: 1"))
    full = Path(cli("train", cfg, "--runs-dir", tmp_path / "full").last_line)
    assert metrics(full)["checkpoint_every"] == 1.0
    proc = start_nnctl("train", cfg)
    try:
        deadline = time.time() + 120
        while True:  # a checkpoint written, and at least two whole epochs trained since it
            assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
            state = json.loads(text) if (text := _read(tmp_path / "runs", "*/checkpoints/state.json")) else None
            rows = len((_read(tmp_path / "runs", "*/history.csv") or "").splitlines()) - 1
            if state is not None and rows >= state["epoch"] + 2:
                break
            time.sleep(0.02)
        proc.kill()
    finally:
        proc.wait()
    (run,) = run_dirs(tmp_path)
    saved = json.loads((run / "checkpoints" / "state.json").read_text())["epoch"]
    assert 1 <= saved < 30 and len(history(run)) >= saved + 2  # epochs lost: after the newest checkpoint
    r = cli("train", "--resume", run)
    assert r.exit_code == 0, r.stderr
    assert f"resuming from checkpoints/epoch-{saved}.keras" in r.stderr
    assert history(run) == history(full)
    assert metrics(run)["test"] == metrics(full)["test"] and metrics(run)["best"] == metrics(full)["best"]


def _read(root: Path, pattern: str) -> str | None:
    """A file's text, or None while it does not exist yet (or is being replaced)."""
    for p in root.glob(pattern):
        try:
            return p.read_text()
        except FileNotFoundError:
            return None
    return None


def _start_long_run(tmp_path: Path, every: str = "epoch") -> tuple[subprocess.Popen, Path]:
    cfg = write_config(tmp_path / "long.yaml", DROPOUT_CNN.replace("epochs: 4", "epochs: 200")
                       .replace("batch_size: 32", "batch_size: 8").replace("patience: 10", "patience: 1000")
                       .replace("checkpoint_every: epoch", f"checkpoint_every: {every}"))
    proc = start_nnctl("train", cfg)
    deadline = time.time() + 120
    while not list((tmp_path / "runs").glob("*/history.csv")):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    (run,) = run_dirs(tmp_path)
    return proc, run


@pytest.mark.parametrize("every", [pytest.param("epoch", marks=pytest.mark.slow), "10"])  # the default, 10 s, here
def test_sigterm_finishes_the_batch_saves_and_exits_130(cli, tmp_path: Path, every: str) -> None:
    """Every epoch checkpointed, or every 10 s: then the newest whole epoch, held in memory, is written
    on the signal."""
    proc, run = _start_long_run(tmp_path, every)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted after" in err and f"nnctl train --resume {run}" in err and "Traceback" not in err
    meta = metrics(run)
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert meta["status"] == "interrupted" and meta["epochs"] == state["epoch"] == len(history(run)) >= 1
    assert (run / "checkpoints" / state["last"]).is_file()
    r = cli("train", "--resume", run, "--epochs", str(state["epoch"] + 1))
    assert r.exit_code == 0, r.stderr
    assert metrics(run)["status"] == "completed" and len(history(run)) == state["epoch"] + 1


def test_a_second_ctrl_c_stops_at_once_and_leaves_parseable_files(tmp_path: Path) -> None:
    proc, run = _start_long_run(tmp_path)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert metrics(run)["status"] == "interrupted"
    yaml.safe_load((run / "config.yaml").read_text())
    assert history(run)


def test_a_run_being_trained_cannot_be_resumed_twice(cli, tmp_path: Path) -> None:
    proc, run = _start_long_run(tmp_path)
    try:
        r = cli("train", "--resume", run)
        assert r.exit_code == 2 and f"being trained by another process (pid {proc.pid})" in r.stderr
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow  # the default suite has two at once (test_train); eight is the stress version
def test_eight_trainings_at_once_get_eight_folders_and_runs_never_crashes(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "same.yaml", """
name: same
data: {source: iris}
layers: [{Dense: {units: 3, activation: softmax}}]
epochs: 3
""")
    procs = [start_nnctl("train", cfg) for _ in range(8)]
    listings = 0
    while any(p.poll() is None for p in procs):
        if (tmp_path / "runs").is_dir():
            r = cli("runs", "--json")  # while the others create and write their folders
            assert r.exit_code == 0, r.stderr
            listings += 1
        time.sleep(0.2)
    results = [p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in results]
    folders = {out.strip().splitlines()[-1] for out, _ in results}
    assert len(folders) == 8 and len(run_dirs(tmp_path)) == 8
    assert all(metrics(Path(f))["status"] == "completed" for f in folders)
    rows = json.loads(cli("runs", "--json").stdout)
    assert len(rows) == 8 and listings > 0


def test_runs_lists_half_written_and_killed_runs(cli, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    (root / "truncated").mkdir(parents=True)
    (root / "truncated" / "config.yaml").write_text("name: x\nlayers: [")
    (root / "truncated" / "metrics.json").write_text('{"status": "runn')
    (root / "no-metrics-yet").mkdir()
    (root / "no-metrics-yet" / "config.yaml").write_text("name: y\nepochs: 3\n")
    (root / "not-a-run").mkdir()
    (root / "stray-file.txt").write_text("hello")
    r = cli("runs", "--json")
    assert r.exit_code == 0, r.stderr
    status = {row["run"]: row["status"] for row in json.loads(r.stdout)}
    assert status == {"truncated": "unreadable", "no-metrics-yet": "starting"}
    assert cli("runs").exit_code == 0 and cli("runs", "--csv").exit_code == 0
