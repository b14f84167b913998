"""`nnctl runs` and sweeps rank on validation values, each metric in the direction Keras recorded;
a sweep's runs are listed with their sweep. One nnctl process per command."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import IRIS, nnctl, one_line_error, write_config


def test_a_sweeps_runs_are_listed_by_nnctl_runs_and_ranked_on_validation(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS + "epochs: 1\n")
    assert nnctl("train", cfg, "--set", "epochs=1").returncode == 0  # a plain run, then a sweep beside
    # In the default runs folder: a bare `nnctl runs` must find the sweep's runs there.
    sweep = nnctl("sweep", cfg, "--grid", "optimizer.learning_rate=0.001,0.05", "--json")
    board = json.loads(sweep.stdout)
    assert sweep.returncode == 0, sweep.stderr
    assert [r["val.loss"] for r in board] == sorted(r["val.loss"] for r in board)  # val_loss: the default objective
    folder = Path(board[0]["path"]).parent

    listed = json.loads(nnctl("runs", "--json").stdout)
    assert len(listed) == 3
    assert sorted(str(r["sweep"]) for r in listed) == sorted([folder.name, folder.name, "None"])
    only = json.loads(nnctl("runs", "--filter", f"sweep={folder.name}", "--json").stdout)
    assert {r["run"] for r in only} == {r["run"] for r in board}
    # A sweep folder named as the runs folder lists its own runs, with its name.
    inside = json.loads(nnctl("runs", folder, "--json").stdout)
    assert sorted(r["run"] for r in inside) == sorted(r["run"] for r in board)
    assert {r["sweep"] for r in inside} == {folder.name}
    # The latest run is one of the sweep's (they started after the plain run), found inside its folder.
    shown = nnctl("summary").stdout.splitlines()[0]
    assert shown in {f"run: {r['path']}" for r in board}, shown


def _fake_run(root: Path, name: str, val: dict, test: dict, monitor: str = "val_loss", directions: dict | None = None,
              started: float = 0.0) -> None:
    run = root / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"name: {name}\n")
    meta = {"status": "completed", "started_at": 1_700_000_000 + started, "epochs": 3, "val": val, "test": test,
            "hparams": {"name": name, "early_stopping.monitor": monitor}}
    if directions is not None:
        meta["directions"] = directions
    (run / "metrics.json").write_text(json.dumps(meta))


def test_runs_sort_by_validation_values_never_by_test(tmp_path: Path) -> None:
    d = tmp_path / "d"
    _fake_run(d, "a", {"accuracy": 0.90, "loss": 0.30}, {"accuracy": 0.50, "loss": 0.9}, started=1)
    _fake_run(d, "b", {"accuracy": 0.80, "loss": 0.20}, {"accuracy": 0.99, "loss": 0.1}, started=2)
    _fake_run(d, "c", {}, {"accuracy": 1.00, "loss": 0.0}, started=3)  # no validation split

    def order(*args: str) -> list[str]:
        return [r["run"] for r in json.loads(nnctl("runs", "d", *args, "--json").stdout)]

    assert order("--sort", "accuracy") == ["a", "b", "c"]  # val.accuracy, higher first; c last
    assert order("--sort", "val_accuracy") == ["a", "b", "c"]
    assert order("--sort", "loss") == ["b", "a", "c"]  # val.loss, lower first
    assert order("--sort", "test.accuracy") == ["c", "b", "a"]  # test only when named in full
    rows = json.loads(nnctl("runs", "d", "--sort", "accuracy", "--json").stdout)
    assert rows[2]["note"] == "not ranked: no validation split" and rows[0]["note"] is None
    table = nnctl("runs", "d", "--sort", "accuracy").stdout
    assert table.splitlines()[0].index("val.accuracy") < table.splitlines()[0].index("test.accuracy")
    assert "not ranked: no validation split" in table
    bad = nnctl("runs", "d", "--sort", "acuracy")
    assert "did you mean" in one_line_error(bad) and "val.accuracy" in bad.stderr


def test_a_metrics_direction_is_the_one_keras_recorded(tmp_path: Path) -> None:
    d = tmp_path / "d"
    _fake_run(d, "low", {"score": 0.1}, {}, directions={"score": "max", "loss": "min"}, started=1)
    _fake_run(d, "high", {"score": 0.7}, {}, directions={"score": "max", "loss": "min"}, started=2)
    rows = json.loads(nnctl("runs", "d", "--sort", "score", "--json").stdout)
    assert [r["run"] for r in rows] == ["high", "low"]  # a name nnctl cannot guess: Keras' direction decides


def test_training_records_keras_directions_and_early_stopping_follows_them(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", IRIS + "metrics: [accuracy]\nepochs: 2\n"
                       "early_stopping: {monitor: val_accuracy, patience: 5}\n")
    run = Path(cli("train", cfg).last_line)
    meta = json.loads((run / "metrics.json").read_text())
    assert meta["directions"] == {"loss": "min", "accuracy": "max"}
    assert json.loads((run / "checkpoints" / "state.json").read_text())["mode"] == "max"
