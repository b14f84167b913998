"""The sweep executor and the API's sweeps on the fake engine (fake_engine.py): scheduling, the
manifest, resuming, a dead worker, Ctrl-C, ranking and a search's direction, in seconds."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from fake_engine import FakeWorker

import nnctl
from conftest import write_config
from nnctl.sweeps.entry import auto_parallel

CONFIG = ("data: {source: iris, validation_split: 0.2}\n"
          "layers: [{Dense: {units: 8, activation: relu}}, {Dense: {units: 3, activation: softmax}}]\nepochs: 2\n")


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return write_config(tmp_path / "fake.yaml", CONFIG)


def manifest(folder: Path) -> list[dict]:
    return json.loads((folder / "sweep.json").read_text())["points"]


def test_a_grid_runs_every_point_on_two_workers_and_ranks_on_validation(cfg: Path) -> None:
    threads: list[str] = []
    lines: list[str] = []
    done = nnctl.sweep(cfg, {"optimizer.learning_rate": [0.1, 0.01, 0.001], "layers.0.Dense.units": [8, 64]},
                       parallel=2, worker=lambda: FakeWorker(threads), on_event=lines.append)
    assert done.exit_code == 0 and not done.failed
    assert len(done.rows) == 6 and len(set(threads)) == 2  # both workers took points
    assert [r["val.loss"] for r in done.rows] == sorted(r["val.loss"] for r in done.rows)
    best = done.rows[0]["config"]
    assert best["optimizer.learning_rate"] == 0.01 and best["layers.0.Dense.units"] == 8
    assert lines[0].startswith("sweep of 6 runs in ") and lines[0].endswith("(2 at a time)")
    assert sum(line.startswith("point ") for line in lines) == 6
    assert [p["status"] for p in manifest(done.folder)] == ["completed"] * 6
    assert all(isinstance(r, nnctl.Run) and r.metrics["status"] == "completed" for r in done.runs)


def test_failed_and_dead_points_are_recorded_and_retried_while_completed_ones_are_skipped(cfg: Path) -> None:
    grid = {"epochs": [2, 13, 99]}  # fine, fails in training, kills its worker
    first = nnctl.sweep(cfg, grid, parallel=1, worker=FakeWorker)
    assert first.exit_code == 1
    points = manifest(first.folder)
    assert [p["status"] for p in points] == ["completed", "failed", "failed"]
    assert points[1]["exit_code"] == 1 and "epochs 13" in points[1]["error"]
    assert points[2]["exit_code"] == -9 and "worker died" in points[2]["error"]
    trained: list[str] = []
    again = nnctl.sweep(cfg, grid, parallel=1, worker=lambda: FakeWorker(trained), on_event=lambda line: None)
    assert again.folder == first.folder and len(trained) == 2  # only the failed points ran again


def test_ctrl_c_stops_the_sweep_and_leaves_the_rest_interrupted(cfg: Path) -> None:
    done = nnctl.sweep(cfg, {"optimizer.learning_rate": [0.1, 0.01, 0.001]}, parallel=1,
                       worker=lambda: FakeWorker(stop_after=1))
    assert done.exit_code == 130
    assert [p["status"] for p in manifest(done.folder)] == ["completed", "interrupted", "interrupted"]


@pytest.mark.parametrize(("objective", "direction"), [("val_r2_score", "maximize"), ("val_loss", "minimize")])
def test_a_search_optimises_its_objective_in_the_metrics_direction(cfg: Path, objective: str, direction: str) -> None:
    done = nnctl.sweep(cfg, space=["optimizer.learning_rate=choice(0.1, 0.01, 0.001, 0.0001)"], search="grid",
                       objective=objective, parallel=2, worker=FakeWorker)
    found = done.search
    assert found["direction"] == direction and len(found["trials"]) == 4
    values = [t["value"] for t in found["trials"]]
    assert found["best"]["value"] == (max(values) if direction == "maximize" else min(values))
    assert "optimizer.learning_rate=0.01" in found["best"]["set"]
    assert done.rows[0]["config"]["optimizer.learning_rate"] == 0.01  # the leaderboard agrees


def test_a_searchs_dry_run_is_the_command_that_works_on_the_same_study(cli, cfg: Path) -> None:
    r = cli("sweep", cfg, "--space", "optimizer.learning_rate=log(0.0001, 0.1)", "--space",
            "layers.0.Dense.units=int(4, 64, log)", "--grid", "batch_size=16,32", "--trials", "5", "--dry-run")
    assert r.exit_code == 0, r.stderr
    command = shlex.split(r.stdout.strip())
    assert command[:2] == ["nnctl", "sweep"]
    again = cli(*command[1:], "--dry-run")  # the printed command names the same study folder
    assert again.exit_code == 0 and again.stdout == r.stdout, again.stderr


def test_parallel_takes_a_number_or_auto(cli, cfg: Path) -> None:
    r = cli("sweep", cfg, "--grid", "epochs=1,2", "--parallel", "0")
    assert r.exit_code == 2 and "--parallel: bad value '0'" in r.stderr
    assert auto_parallel("auto", 1) == 1 and auto_parallel(3, 1) == 3
