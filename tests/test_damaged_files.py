"""Damaged run files: a damaged checkpoint, metrics.json or state file is a fallback or a one-line
error naming the file, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import CONFIGS, IRIS, nnctl, one_line_error, write_config


def test_a_damaged_newest_checkpoint_resumes_from_the_one_before_to_the_same_result(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", "data: {source: iris}\nepochs: 4\ncheckpoint_every: epoch\n"
                       "layers: [{Dense: {units: 8, activation: relu}}, {Dropout: 0.3}, "
                       "{Dense: {units: 3, activation: softmax}}]\n")
    full = Path(cli("train", cfg).last_line)
    part = Path(cli("train", cfg, "--epochs", "3").last_line)
    newest = part / "checkpoints" / "epoch-3.keras"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # a copy cut short

    r = nnctl("train", "--resume", part, "--epochs", "4")
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
        line = one_line_error(nnctl(*command))
        assert f"{run / 'model.keras'} is damaged" in line, line
    (run / "model.keras").write_bytes(model)

    (run / "metrics.json").write_text('{"status": "compl')  # a kill mid-write by another tool
    assert f"{run / 'metrics.json'} is damaged" in one_line_error(nnctl("train", "--resume", run,
                                                                        "--epochs", "3"))
    assert f"{run / 'metrics.json'} is damaged" in one_line_error(nnctl("predict", run,
                                                                        CONFIGS / "data" / "iris.csv"))
    (run / "config.yaml").write_text("layers: [oops\n")
    assert f"{run / 'config.yaml'} is damaged" in one_line_error(nnctl("evaluate", run))


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


def test_a_run_killed_while_writing_its_first_checkpoint_starts_over_on_resume(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", IRIS + "epochs: 2\ncheckpoint_every: epoch\n")
    full = Path(cli("train", cfg).last_line)
    part = Path(cli("train", cfg).last_line)
    folder = part / "checkpoints"
    assert (folder / "epoch-1.keras").exists()
    for p in folder.iterdir():  # as a kill -9 leaves it after epoch-1.keras, before epoch-1.json
        if p.name != "epoch-1.keras":
            p.unlink()
    (part / "metrics.json").unlink()
    r = nnctl("train", "--resume", part)
    assert r.returncode == 0, r.stderr
    assert "resuming from" not in r.stderr and "warning" not in r.stderr
    assert (part / "history.csv").read_text() == (full / "history.csv").read_text()
