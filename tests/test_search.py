"""Sweeps that search (Optuna): spaces, TPE, pruning, one study for several processes, resume after
kill -9, and every bad SPEC refused before a point runs. Points are `nnctl train` processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import IRIS as BASE
from conftest import nnctl, nnctl_command, start_nnctl, write_config

IRIS = BASE + "epochs: 6\n"


def study(folder: Path) -> list[dict]:
    return json.loads((folder / "search.json").read_text())["trials"]


def test_a_tpe_search_over_log_int_and_choice_spaces(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS)
    r = cli("sweep", cfg, "--space", "optimizer.learning_rate=log(1e-3, 1e-1)", "--space",
            "layers.0.Dense.units=int(4, 32, log)", "--space", "batch_size=choice(16, 32)",
            "--search", "tpe", "--trials", "4", "--json")
    assert r.exit_code == 0, r.stderr
    board = json.loads(r.stdout)
    assert len(board) == 4 and [b["val.loss"] for b in board] == sorted(b["val.loss"] for b in board)
    folder = Path(board[0]["path"]).parent
    trials = study(folder)
    assert [t["state"] for t in trials] == ["complete"] * 4
    for t in trials:
        p = t["params"]
        assert 1e-3 <= p["optimizer.learning_rate"] <= 1e-1 and 4 <= p["layers.0.Dense.units"] <= 32
        assert p["batch_size"] in (16, 32)
        config = (Path(t["run_dir"]) / "config.yaml").read_text()
        assert f"batch_size: {p['batch_size']}" in config  # the point's values reached its run
    found = json.loads((folder / "search.json").read_text())
    assert found["best"]["value"] == min(t["value"] for t in trials)
    assert found["best"]["set"].count("--set") == 3 and set(found["importance"]) == set(trials[0]["params"])
    assert (folder / "search.png").stat().st_size > 5000
    # `nnctl runs` lists the trials inside the sweep folder, with its name.
    listed = json.loads(cli("runs", "--json").stdout)
    assert sorted(r["sweep"] for r in listed) == [folder.name] * 4
    # The same sweep again: the study is complete, nothing more runs.
    again = cli("sweep", cfg, "--space", "optimizer.learning_rate=log(1e-3, 1e-1)", "--space",
                "layers.0.Dense.units=int(4, 32, log)", "--space", "batch_size=choice(16, 32)",
                "--search", "tpe", "--trials", "4", "--json")
    assert again.exit_code == 0 and len(study(folder)) == 4 and len(json.loads(again.stdout)) == 4


@pytest.mark.slow  # six trainings: the slow tier (.ci/run), beside hyperband's; the TPE search is in the default tier
def test_a_pruned_point_is_a_run_folder_with_status_pruned_never_resumed(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS.replace("epochs: 6", "epochs: 8"))
    # A learning rate that cannot learn in 8 epochs against one that does: the margin at epoch 2 (loss
    # ~2.8 against ~0.8) does not depend on the CPU's rounding. A grid, whose order is the seed's alone
    # (random and TPE samplers add the process id to the seed, so that workers differ), puts a bad
    # point after a good one: 3 good and 3 bad points, in an order fixed by --seed 1.
    args = ["sweep", cfg, "--space", "optimizer.learning_rate=choice(0.05, 0.00001)", "--space",
            "layers.0.Dense.units=choice(8, 16, 32)", "--search", "grid", "--trials", "6", "--prune", "median",
            "--seed", "1", "--parallel", "1", "--json"]
    r = cli(*args)
    assert r.exit_code == 0, r.stderr
    trials = study(Path(json.loads(r.stdout)[0]["path"]).parent)
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert pruned and len(trials) == 6
    meta = json.loads((Path(pruned[0]["run_dir"]) / "metrics.json").read_text())
    assert meta["status"] == "pruned" and meta["epochs"] < 8
    assert (Path(pruned[0]["run_dir"]) / "model.keras").is_file()  # a normal run folder, tested as any
    statuses = {row["run"]: row["status"] for row in json.loads(cli("runs", "--json").stdout)}
    assert statuses[Path(pruned[0]["run_dir"]).name] == "pruned"
    resumed = cli("train", "--resume", pruned[0]["run_dir"])
    assert resumed.exit_code == 2 and "pruned" in resumed.stderr


@pytest.mark.slow  # two sweep processes on one study: the slow tier (.ci/run); one study resumed is in the default tier
def test_two_processes_work_on_one_study_without_repeating_a_trial(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS)
    args = ["sweep", cfg, "--space", "optimizer.learning_rate=log(1e-3, 1e-1)", "--trials", "4", "--parallel", "1"]
    procs = [start_nnctl(*args) for _ in range(2)]
    for p in procs:
        _, stderr = p.communicate(timeout=400)
        assert p.returncode == 0, stderr
    folder = next((tmp_path / "runs").iterdir())
    trials = study(folder)
    assert len(trials) == 4 and sorted(t["number"] for t in trials) == [1, 2, 3, 4]
    assert len([p for p in folder.iterdir() if (p / "metrics.json").is_file()]) == 4  # one run per trial


@pytest.mark.slow  # 35 s of kill -9 and requeue: in the slow tier (pytest -m slow), run before a release
def test_a_search_killed_with_sigkill_resumes_on_the_next_run(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS.replace("epochs: 6", "epochs: 30"))
    args = ["sweep", cfg, "--space", "optimizer.learning_rate=log(1e-3, 1e-1)", "--trials", "3"]
    env = {**os.environ, "NNCTL_RUNS_DIR": str(tmp_path / "runs")}
    p = subprocess.Popen([*nnctl_command(), *map(str, args)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "runs").glob("*/iris-t001-*/history.csv")):
        time.sleep(0.2)
    os.killpg(p.pid, signal.SIGKILL)  # the sweep and its point, mid-training
    p.wait()
    time.sleep(1)
    for child in subprocess.run(["pgrep", "-f", str(cfg)], capture_output=True, text=True).stdout.split():
        os.kill(int(child), signal.SIGKILL)  # the point runs in its own session: kill it too
    r = nnctl(*args)
    assert r.returncode == 0, r.stderr
    trials = study(next((tmp_path / "runs").iterdir()))
    assert [t["state"] for t in trials] == ["complete"] * 3  # the killed trial's point was asked again


@pytest.mark.parametrize(("space", "words"), [
    ("optimizer.learning_rate=log(0, 1)", "a log range needs low > 0"),
    ("layers.0.Dense.units=int(32, 4)", "the range is empty (32 to 4)"),
    ("layers.0.Dense.units=int(1.5, 4)", "expected int(lo, hi) or int(lo, hi, log) with whole numbers"),
    ("batch_size=choice()", "choice() needs at least one value"),
    ("batch_size=range(1, 4)", "expected KEY=SPEC"),
    ("optimizer.learning_rate=float(1)", "expected float(lo, hi)"),
    ("layers.7.Dense.units=int(4, 8)", "layers.7: --set: no item '7' in a list of 2"),
    ("epochz=int(1, 3)", "epochz: unknown key (did you mean 'epochs'?)"),
])
def test_every_bad_spec_is_refused_before_any_point(cli, tmp_path: Path, space: str, words: str) -> None:
    r = cli("sweep", write_config(tmp_path / "iris.yaml", IRIS), "--space", space, "--trials", "2")
    assert r.exit_code == 2 and words in r.stderr, r.stderr
    assert not (tmp_path / "runs").exists()


def test_a_test_metric_is_refused_as_the_objective(cli, tmp_path: Path) -> None:
    r = cli("sweep", write_config(tmp_path / "iris.yaml", IRIS), "--space", "batch_size=choice(16, 32)",
            "--objective", "test_accuracy")
    assert r.exit_code == 2 and "--objective" in r.stderr and "use val_accuracy" in r.stderr, r.stderr


@pytest.mark.slow  # a study in SQLite with hyperband: the slow tier (.ci/run)
def test_a_grid_search_in_a_database_with_hyperband_pruning(cli, tmp_path: Path) -> None:
    """--search grid tries every choice once; --storage puts the study in any database Optuna takes."""
    cfg = write_config(tmp_path / "iris.yaml", IRIS)
    db = tmp_path / "study.db"
    r = cli("sweep", cfg, "--space", "batch_size=choice(16, 64)", "--grid", "optimizer.learning_rate=0.01,0.1",
            "--search", "grid", "--prune", "hyperband", "--storage", f"sqlite:///{db}", "--json")
    assert r.exit_code == 0, r.stderr
    trials = study(Path(json.loads(r.stdout)[0]["path"]).parent)
    combos = {(t["params"]["batch_size"], t["params"]["optimizer.learning_rate"]) for t in trials}
    assert combos == {(16, 0.01), (16, 0.1), (64, 0.01), (64, 0.1)} and len(trials) == 4  # the grid, once each
    assert db.stat().st_size > 0 and not list(tmp_path.glob("runs/*/study.journal"))
    ranges = cli("sweep", cfg, "--space", "batch_size=int(16, 64)", "--search", "grid")
    assert ranges.exit_code == 2 and "grid search takes choice(...)" in ranges.stderr


@pytest.mark.slow  # real training of what tests/fast proves on the fake engine: the slow tier (.ci/run)
def test_a_search_on_val_r2_score_maximises_it(tmp_path: Path) -> None:
    """R² rises: Keras records its direction as up, and the study must maximise it (a name rule that
    knew only accuracy-like names minimised it)."""
    cfg = write_config(tmp_path / "diabetes.yaml", "data: {source: diabetes}\nmetrics: [r2_score]\nepochs: 4\n"
                       "layers: [{Dense: {units: 16, activation: relu}}, {Dense: {units: 1}}]\n")
    p = nnctl("sweep", cfg, "--space", "optimizer.learning_rate=choice(0.00001, 0.05)", "--search", "grid",
              "--objective", "val_r2_score", "--json")
    assert p.returncode == 0, p.stderr
    assert "on val_r2_score (maximize)" in p.stderr
    board = json.loads(p.stdout)
    found = json.loads((Path(board[0]["path"]).parent / "search.json").read_text())
    values = [t["value"] for t in found["trials"]]
    assert found["direction"] == "maximize" and found["best"]["value"] == max(values) and len(set(values)) == 2
    assert board[0]["val.r2_score"] == max(values) and "0.05" in found["best"]["set"]
