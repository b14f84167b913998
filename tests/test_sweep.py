"""Sweeps, the leaderboard, --json for scripts."""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import nnctl, start_nnctl, write_config

DIABETES = """
name: diab
data: {source: diabetes}
layers: [{Dense: {units: 8, activation: relu}}, {Dense: 1}]
optimizer: adam
epochs: 2
"""


@pytest.mark.slow  # 22 s: failed points retried, completed ones skipped: tests/fast on the fake engine
def test_grid_sweep_with_a_failing_point_is_resumable(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "diab.yaml", DIABETES)
    cmd = ["sweep", cfg, "--parallel", "2", "--grid", "optimizer=adam,sgd,{name: sgd, learning_rate: 1e6}"]
    first = nnctl(*cmd)
    assert first.returncode == 1, first.stderr  # one point diverges: the sweep says so at the end
    (folder,) = (tmp_path / "runs").glob("diab-sweep-*")
    manifest = json.loads((folder / "sweep.json").read_text())
    status = {p["id"]: p["status"] for p in manifest["points"]}
    assert status == {1: "completed", 2: "completed", 3: "failed"}
    assert "non-finite loss" in manifest["points"][2]["error"]
    assert "point 3 failed" in first.stderr
    rows = first.stdout.splitlines()
    assert rows[0].split()[:3] == ["run", "sweep", "status"] and "optimizer" in rows[0] and len(rows) == 1 + 3
    assert rows[-1].split()[1:3] == [folder.name, "failed"]  # a failed run ranks last

    again = nnctl(*cmd)
    assert again.returncode == 1
    assert again.stderr.count("completed earlier, skipped") == 2 and "point 3/3" in again.stderr
    runs = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith("diab-p")]
    assert len(runs) == 4  # 2 kept, the failed point tried twice
    threads = json.loads((runs[0] / "metrics.json").read_text())["threads"]
    assert threads["intra_op"] == max(1, (os.cpu_count() or 1) // 2)  # --parallel 2 splits the cores


def test_dry_run_prints_one_train_command_per_point(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "diab.yaml", DIABETES)
    r = cli("sweep", cfg, "--grid", "optimizer.learning_rate=1e-3,1e-2", "--grid", "batch_size=16,32,64",
            "--repeat", "2", "--dry-run")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2 * 3 * 2
    first = shlex.split(lines[0])
    assert first[:3] == ["nnctl", "train", str(cfg)] and "--runs-dir" in first
    assert "optimizer.learning_rate=0.001" in first and "batch_size=16" in first and "seed=42" in first
    assert "seed=43" in lines[1]
    assert not (tmp_path / "runs").exists()  # a dry run writes nothing
    r = cli("sweep", cfg, "--grid", "optimizer=adam", "--random", "1", "--dry-run")
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 1


def test_sweep_checks_every_point_before_running_any(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "diab.yaml", DIABETES)
    r = cli("sweep", cfg, "--grid", "batchsize=16,32")
    assert r.exit_code == 2 and "did you mean 'batch_size'" in r.stderr
    r = cli("sweep", cfg, "--grid", "epochs=1,-1")
    assert r.exit_code == 2 and "sweep point 2" in r.stderr and "epochs" in r.stderr
    assert not (tmp_path / "runs").exists()


def _fake_run(root: Path, name: str, lr: float, batch: int, acc: float | None, status: str = "completed") -> None:
    run = root / name
    run.mkdir(parents=True)
    hparams = {"name": "x", "seed": 42, "optimizer.name": "adam", "optimizer.learning_rate": lr,
               "batch_size": batch, "layers.0.Dense.units": 8}
    meta = {"status": status, "started_at": time.time(), "epochs": 3, "best_epoch": 2, "duration_s": 1.5,
            # The test split ranks the other way round: only the validation values may pick.
            "val": {"accuracy": acc, "loss": 1 - acc} if acc is not None else {},
            "test": {"accuracy": 1 - acc, "loss": acc} if acc is not None else {}, "hparams": hparams}
    (run / "metrics.json").write_text(json.dumps(meta))
    (run / "config.yaml").write_text("name: x\n")


def test_runs_shows_the_columns_that_differ_sorted_and_filtered(cli, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    _fake_run(root, "a", 0.1, 32, 0.80)
    _fake_run(root, "b", 0.01, 32, 0.95)
    _fake_run(root, "c", 0.001, 32, 0.90)
    _fake_run(root, "d", 0.001, 32, None, status="failed")
    r = cli("runs", "--csv", "--sort", "accuracy")
    assert r.exit_code == 0, r.stderr
    table = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["run"] for row in table] == ["b", "c", "a", "d"]  # best val.accuracy first, no score last
    assert "optimizer.learning_rate" in table[0] and "batch_size" not in table[0]  # only what differs
    assert "layers.0.Dense.units" not in table[0] and table[0]["val.accuracy"] == "0.95"
    assert table[3]["note"] == "not ranked: no validation split"
    r = cli("runs", "--csv", "--sort", "test.accuracy")  # the test split only when named in full
    assert [row["run"] for row in csv.DictReader(io.StringIO(r.stdout))] == ["a", "c", "b", "d"]
    r = cli("runs", "--json", "--filter", "status=completed", "--filter", "optimizer.learning_rate=0.001")
    assert [row["run"] for row in json.loads(r.stdout)] == ["c"]
    r = cli("runs", "--sort", "acuracy")
    assert r.exit_code == 2 and "did you mean 'val.accuracy'" in r.stderr
    r = cli("runs")
    assert r.exit_code == 0 and r.stdout.splitlines()[0].split()[:3] == ["run", "sweep", "status"]


def test_runs_over_1000_folders_is_fast_and_never_imports_tensorflow(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for i in range(1000):
        _fake_run(root, f"r{i:04d}", [0.1, 0.01][i % 2], 32, i / 1000)
    code = ("import sys, time; t = time.time(); sys.argv = ['nnctl', 'runs', sys.argv[1], '--sort', 'accuracy']\n"
            "from nnctl.cli import run\ntry:\n    run()\nexcept SystemExit:\n    pass\n"
            "print(time.time() - t, 'tensorflow' in sys.modules, file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True)
    seconds, imported = p.stderr.split()[-2:]
    assert imported == "False" and len(p.stdout.splitlines()) == 1001
    assert p.stdout.splitlines()[1].startswith("r0999")
    assert float(seconds) < 3.0  # ~0.3 s here; generous for a loaded CI machine


def test_train_json_is_one_line_last_even_when_the_run_fails(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "diab.yaml", DIABETES)
    r = cli("train", cfg, "--json")
    result = json.loads(r.stdout.strip().splitlines()[-1])
    run = Path(result["run_dir"])
    assert r.exit_code == 0 and result["status"] == "completed" and run.is_dir()
    assert set(result["test"]) == {"loss", "mae", "RootMeanSquaredError"}
    assert "test metrics" in r.stderr and "test metrics" not in r.stdout  # tables stay on stderr
    r = cli("train", cfg, "--json", "--set", "optimizer={name: sgd, learning_rate: 1e6}")
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert r.exit_code == 1 and result["status"] == "failed" and "non-finite" in result["error"]
    r = cli("evaluate", run, "--json")
    assert r.exit_code == 0 and "loss" in json.loads(r.stdout.strip().splitlines()[-1])["test"]


SWEEPS = Path(__file__).resolve().parent.parent / "configs" / "sweeps"


def test_the_shell_sweep_script_and_its_nnctl_sweep_twin_cover_the_same_points(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "nnctl"  # records each call and answers like `nnctl train --json`
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "$@" >> "$CALLS"\necho \'{"run_dir": "x", "status": "completed"}\'\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls")}
    p = subprocess.run(["sh", SWEEPS / "lr_batch.sh", "my.yaml", "out"], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    trains = [c for c in calls if c.startswith("train")]
    assert len(trains) == 6 and calls[-1] == "runs out --sort accuracy"
    points = {(c.split("learning_rate=")[1].split()[0], c.split("batch_size=")[1].split()[0]) for c in trains}

    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"  # the real nnctl
    cfg = write_config(tmp_path / "my.yaml", DIABETES)
    p = subprocess.run(["sh", SWEEPS / "lr_batch_sweep.sh", cfg, "--dry-run"], env=env, capture_output=True,
                       text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    twin = {(c.split("learning_rate=")[1].split()[0], c.split("batch_size=")[1].split()[0])
            for c in p.stdout.splitlines()}
    assert {(float(a), int(b)) for a, b in twin} == {(float(a), int(b)) for a, b in points}


@pytest.mark.slow  # a sweep interrupted mid-point, re-run: the slow tier (.ci/run); tests/fast resumes sweeps too
def test_an_interrupted_sweep_resumes_its_interrupted_run_from_the_checkpoint(tmp_path: Path) -> None:
    import signal

    cfg = write_config(tmp_path / "iris.yaml", """
name: iris
data: {source: iris}
layers: [{Dense: {units: 8, activation: relu}}, {Dense: {units: 3, activation: softmax}}]
batch_size: 4
epochs: 25
checkpoint_every: epoch   # a checkpoint mid-run to wait for
""")
    cmd = ["sweep", cfg, "--grid", "optimizer.learning_rate=0.01,0.001"]  # two at a time (auto, 2 cores)
    proc = start_nnctl(*cmd)
    deadline = time.time() + 120
    while not list((tmp_path / "runs").glob("iris-sweep-*/iris-p001-*/checkpoints/state.json")):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    (folder,) = (tmp_path / "runs").glob("iris-sweep-*")
    points = json.loads((folder / "sweep.json").read_text())["points"]
    assert [p["status"] for p in points] == ["interrupted", "interrupted"]
    first_run = points[0]["run_dir"]

    again = nnctl(*cmd)
    assert again.returncode == 0, again.stderr
    points = json.loads((folder / "sweep.json").read_text())["points"]
    assert [p["status"] for p in points] == ["completed", "completed"]
    assert points[0]["run_dir"] == first_run  # continued in its own folder, not started over
    meta = json.loads((Path(first_run) / "metrics.json").read_text())
    assert meta["epochs"] == 25 and meta["resumed"][0]["at_epoch"] >= 1
