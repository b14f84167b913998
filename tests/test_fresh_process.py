"""The findings of a new user's first try, replayed as they typed them: one nnctl process per command.

Runs inside sweeps, ranking on validation, damaged run files, the course's Keras 2 spelling
and plain-language messages (nnctl's own layers and applications: test_chain.py). A run that
only sets the scene is trained in-process (`cli`); the command under test runs in a new process.
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml
from test_chain import nnctl_command

from conftest import CONFIGS, write_config

IRIS = ("data: {source: iris}\n"
        "layers: [{Dense: {units: 8, activation: relu}}, {Dense: {units: 3, activation: softmax}}]\n")


def nnctl(tmp_path: Path, *args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*nnctl_command(), *map(str, args)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "NNCTL_RUNS_DIR": str(tmp_path / "runs")})


def last_json(p: subprocess.CompletedProcess) -> dict | list:
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.lstrip().startswith("{") else json.loads(p.stdout)


def one_line_error(p: subprocess.CompletedProcess, code: int = 2) -> str:
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == code, p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, p.stderr
    return errors[0]


def test_a_sweeps_runs_are_listed_by_nnctl_runs_and_ranked_on_validation(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS + "epochs: 1\n")
    assert nnctl(tmp_path, "train", cfg, "--set", "epochs=1").returncode == 0  # a plain run, then a sweep beside
    # In the default runs folder: a bare `nnctl runs` must find the sweep's runs there.
    sweep = nnctl(tmp_path, "sweep", cfg, "--grid", "optimizer.learning_rate=0.001,0.05", "--json")
    board = json.loads(sweep.stdout)
    assert sweep.returncode == 0, sweep.stderr
    assert [r["val.loss"] for r in board] == sorted(r["val.loss"] for r in board)  # val_loss: the default objective
    folder = Path(board[0]["path"]).parent

    listed = json.loads(nnctl(tmp_path, "runs", "--json").stdout)
    assert len(listed) == 3
    assert sorted(str(r["sweep"]) for r in listed) == sorted([folder.name, folder.name, "None"])
    only = json.loads(nnctl(tmp_path, "runs", "--filter", f"sweep={folder.name}", "--json").stdout)
    assert {r["run"] for r in only} == {r["run"] for r in board}
    # A sweep folder named as the runs folder lists its own runs, with its name.
    inside = json.loads(nnctl(tmp_path, "runs", folder, "--json").stdout)
    assert sorted(r["run"] for r in inside) == sorted(r["run"] for r in board)
    assert {r["sweep"] for r in inside} == {folder.name}
    # The latest run is one of the sweep's (they started after the plain run), found inside its folder.
    shown = nnctl(tmp_path, "summary").stdout.splitlines()[0]
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
        return [r["run"] for r in json.loads(nnctl(tmp_path, "runs", "d", *args, "--json").stdout)]

    assert order("--sort", "accuracy") == ["a", "b", "c"]  # val.accuracy, higher first; c last
    assert order("--sort", "val_accuracy") == ["a", "b", "c"]
    assert order("--sort", "loss") == ["b", "a", "c"]  # val.loss, lower first
    assert order("--sort", "test.accuracy") == ["c", "b", "a"]  # test only when named in full
    rows = json.loads(nnctl(tmp_path, "runs", "d", "--sort", "accuracy", "--json").stdout)
    assert rows[2]["note"] == "not ranked: no validation split" and rows[0]["note"] is None
    table = nnctl(tmp_path, "runs", "d", "--sort", "accuracy").stdout
    assert table.splitlines()[0].index("val.accuracy") < table.splitlines()[0].index("test.accuracy")
    assert "not ranked: no validation split" in table
    bad = nnctl(tmp_path, "runs", "d", "--sort", "acuracy")
    assert "did you mean" in one_line_error(bad) and "val.accuracy" in bad.stderr


def test_a_metrics_direction_is_the_one_keras_recorded(tmp_path: Path) -> None:
    d = tmp_path / "d"
    _fake_run(d, "low", {"score": 0.1}, {}, directions={"score": "max", "loss": "min"}, started=1)
    _fake_run(d, "high", {"score": 0.7}, {}, directions={"score": "max", "loss": "min"}, started=2)
    rows = json.loads(nnctl(tmp_path, "runs", "d", "--sort", "score", "--json").stdout)
    assert [r["run"] for r in rows] == ["high", "low"]  # a name nnctl cannot guess: Keras' direction decides


def test_training_records_keras_directions_and_early_stopping_follows_them(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", IRIS + "metrics: [accuracy]\nepochs: 2\n"
                       "early_stopping: {monitor: val_accuracy, patience: 5}\n")
    run = Path(cli("train", cfg).last_line)
    meta = json.loads((run / "metrics.json").read_text())
    assert meta["directions"] == {"loss": "min", "accuracy": "max"}
    assert json.loads((run / "checkpoints" / "state.json").read_text())["mode"] == "max"


def test_a_damaged_newest_checkpoint_resumes_from_the_one_before_to_the_same_result(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", "data: {source: iris}\nepochs: 4\nlayers: [{Dense: {units: 8, "
                       "activation: relu}}, {Dropout: 0.3}, {Dense: {units: 3, activation: softmax}}]\n")
    full = Path(cli("train", cfg).last_line)
    part = Path(cli("train", cfg, "--epochs", "3").last_line)
    newest = part / "checkpoints" / "epoch-3.keras"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # a copy cut short

    r = nnctl(tmp_path, "train", "--resume", part, "--epochs", "4")
    assert r.returncode == 0, r.stderr
    assert "epoch-3.keras is damaged" in r.stderr and "resuming from checkpoints/epoch-2.keras" in r.stderr
    assert (part / "history.csv").read_text() == (full / "history.csv").read_text()  # epoch 3 re-trained, once
    a, b = (json.loads((p / "metrics.json").read_text()) for p in (part, full))
    assert a["test"] == b["test"] and a["epochs"] == 4


def test_damaged_run_files_are_one_line_errors_naming_the_file(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", IRIS + "epochs: 2\n")
    run = Path(cli("train", cfg).last_line)
    model = (run / "model.keras").read_bytes()
    (run / "model.keras").write_bytes(model[:1000])
    for command in (["evaluate", run], ["predict", run, CONFIGS / "data" / "iris.csv"], ["export", run]):
        line = one_line_error(nnctl(tmp_path, *command))
        assert f"{run / 'model.keras'} is damaged" in line, line
    (run / "model.keras").write_bytes(model)

    (run / "metrics.json").write_text('{"status": "compl')  # a kill mid-write by another tool
    assert f"{run / 'metrics.json'} is damaged" in one_line_error(nnctl(tmp_path, "train", "--resume", run,
                                                                        "--epochs", "3"))
    assert f"{run / 'metrics.json'} is damaged" in one_line_error(nnctl(tmp_path, "predict", run,
                                                                        CONFIGS / "data" / "iris.csv"))
    (run / "config.yaml").write_text("layers: [oops\n")
    assert f"{run / 'config.yaml'} is damaged" in one_line_error(nnctl(tmp_path, "evaluate", run))


def test_a_damaged_state_file_falls_back_to_the_epoch_states(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", IRIS + "epochs: 2\n")
    run = Path(cli("train", cfg).last_line)
    (run / "checkpoints" / "state.json").write_text("{")
    r = cli("train", "--resume", run, "--epochs", "3")
    assert r.exit_code == 0, r.stderr
    assert "resuming from checkpoints/epoch-2.keras" in r.stderr
    for name in ("epoch-1.keras", "epoch-2.keras"):  # nothing intact left: refused, naming the files
        p = run / "checkpoints" / name
        if p.exists():
            p.write_bytes(b"PK")
    for p in (run / "checkpoints").glob("epoch-3.*"):
        p.write_bytes(b"{")
    r = cli("train", "--resume", run, "--epochs", "4")
    assert r.exit_code == 2 and "no intact checkpoint" in r.stderr and "epoch-3.keras" in r.stderr


def test_the_slides_keras2_optimizer_and_loss_translate_with_warnings(tmp_path: Path) -> None:
    """`optimizer: {name: SGD, lr: 0.01, momentum: 0.0, decay: 0.0}` and `loss: rmse`, as the slides write them."""
    cfg = write_config(tmp_path / "c.yaml", "data: {source: diabetes, validation_split: 0.2}\n"
                       "layers: [{Dense: {units: 8, input_dim: 10}}, {Dense: 1}]\n"
                       "optimizer: {name: SGD, lr: 0.01, momentum: 0.0, decay: 0.0}\nloss: rmse\nmetrics: [acc]\n"
                       "nb_epoch: 3\n")
    shown = nnctl(tmp_path, "config", "show", cfg)
    assert shown.returncode == 0, shown.stderr
    resolved = yaml.safe_load(shown.stdout)
    assert resolved["optimizer"] == {"name": "SGD", "momentum": 0.0, "learning_rate": 0.01}
    assert resolved["loss"] == "root_mean_squared_error" and resolved["epochs"] == 3
    assert resolved["input_shape"] == [10] and resolved["layers"][0] == {"Dense": {"units": 8}}
    for hint in ("Keras 3: learning_rate: 0.01", "optimizer.decay: 0.0 is Keras 2's default", "root_mean_squared_error",
                 "Keras 3: epochs: 3", "Keras 3: input_shape: [10]"):
        assert hint in shown.stderr, (hint, shown.stderr)
    assert "Traceback" not in shown.stderr


def test_keras2_decay_is_inverse_time_decay_per_step(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", IRIS + "optimizer: {name: sgd, lr: 0.2, decay: 0.05}\n"
                       "batch_size: 16\nepochs: 2\n")
    run = Path(cli("train", cfg).last_line)
    stored = yaml.safe_load((run / "config.yaml").read_text())["optimizer"]
    assert stored == {"name": "sgd", "learning_rate": {"name": "InverseTimeDecay", "initial_learning_rate": 0.2,
                                                        "decay_steps": 1, "decay_rate": 0.05}}
    import keras

    from nnctl import layers  # noqa: F401  (registers nnctl's classes, as every nnctl command does)

    model = keras.models.load_model(run / "model.keras")
    steps = int(model.optimizer.iterations.numpy())
    n_train = json.loads((run / "metrics.json").read_text())["dataset"]["sizes"]["train"]
    assert steps == 2 * -(-n_train // 16)
    schedule = model.optimizer._learning_rate
    for step in (0, 1, 7, steps):  # Keras 2: lr * 1 / (1 + decay * iterations)
        assert float(schedule(step)) == pytest.approx(0.2 / (1 + 0.05 * step), rel=1e-6)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.2 / (1 + 0.05 * steps), rel=1e-6)


def test_rmse_is_a_loss_that_trains_saves_and_reloads_in_a_new_process(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", "data: {source: diabetes}\nlayers: [Normalization, {Dense: 1}]\n"
                       "loss: rmse\nmetrics: [RootMeanSquaredError, mae]\nbatch_size: 512\nepochs: 2\n")
    run = Path(cli("train", cfg).last_line)
    evaluated = last_json(nnctl(tmp_path, "evaluate", run, "--json"))["test"]
    # One test batch: the loss is the root of the mean squared error, not the mean absolute error,
    # of the target standardised by its training-split scale (the model's last layer, target_units).
    with zipfile.ZipFile(run / "model.keras") as z:
        layers = json.loads(z.read("config.json"))["config"]["layers"]
    scale = next(la["config"]["scale"] for la in layers if la["config"]["name"] == "target_units")
    assert evaluated["loss"] * scale == pytest.approx(evaluated["RootMeanSquaredError"], rel=1e-5)
    assert abs(evaluated["loss"] * scale - evaluated["mae"]) > 1.0
    with_lr = write_config(tmp_path / "d.yaml", IRIS + "optimizer: {name: adam, lr: 0.1, learning_rate: 0.1}\n")
    assert "give learning_rate only" in one_line_error(nnctl(tmp_path, "validate", with_lr))


def test_other_keras2_spellings(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", """
data: {source: data/reviews.csv, text: review, target: sentiment}
augmentation: {rescale: 0.00392156862745098}
layers:
  - TextVectorization: {max_tokens: 100, output_sequence_length: 8}
  - Embedding: {input_dim: 100, output_dim: 4, input_length: 8}
  - CuDNNLSTM: 4
  - Dense: {units: 2, activation: softmax}
optimizer: {name: adam, epsilon: null, decay: 0.001}
""")
    (tmp_path / "data").symlink_to(CONFIGS / "data")
    shown = nnctl(tmp_path, "config", "show", cfg)
    resolved = yaml.safe_load(shown.stdout)
    assert resolved["layers"][1] == {"Embedding": {"input_dim": 100, "output_dim": 4}}  # its own input_dim stays
    assert resolved["layers"][2] == {"LSTM": 4} and resolved["augmentation"] is None  # rescale was all it held
    assert resolved["optimizer"]["learning_rate"]["initial_learning_rate"] == 0.001  # Keras 2's adam default
    for hint in ("input_length", "CuDNN", "epsilon", "rescale"):
        assert hint in shown.stderr
    odd = nnctl(tmp_path, "validate", cfg, "--set", "augmentation.rescale=0.5")
    assert "Rescaling layer" in one_line_error(odd)


def test_messages_show_sizes_in_words_not_python_reprs(cli, tmp_path: Path) -> None:
    ok = nnctl(tmp_path, "validate", CONFIGS / "slides_keras2.yaml")
    assert ok.returncode == 0, ok.stderr
    assert "1,222 train / 216 validation / 359 test examples" in ok.stdout and "{'" not in ok.stdout + ok.stderr
    cfg = write_config(tmp_path / "c.yaml", IRIS + "epochs: 1\n")
    r = cli("train", cfg)
    assert "training c: 108 train / 12 validation / 30 test examples, 1 epochs" in r.stderr, r.stderr
    assert "{'" not in r.stderr and "['" not in r.stderr
