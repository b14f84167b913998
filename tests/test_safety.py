"""What a config or a run folder can never do: escape the runs folder, run code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import write_config


def test_run_names_cannot_escape_the_runs_folder(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", "data: {source: iris}\nlayers: [{Dense: {units: 3, activation: softmax}}]\n"
                                            "epochs: 1\n")
    from nnctl.run.folder import RunFolder

    for name in ("../../etc", "/tmp/abs", "..", "a/../../b"):  # the rule itself, for every shape of escape
        assert RunFolder.create(tmp_path / "runs", name).path.resolve().parent == (tmp_path / "runs").resolve()
    r = cli("train", cfg, "--name", "../../etc")  # and the command uses it
    assert r.exit_code == 0, r.stderr
    assert Path(r.last_line).resolve().parent == (tmp_path / "runs").resolve()
    assert Path(r.last_line).name.startswith("etc-")


@pytest.mark.parametrize("text", [
    "data: !!python/object/apply:os.system ['touch pwned']\nlayers: [Dense]\n",
    "!!python/name:os.system\n",
    "data: {source: iris}\nlayers: [{Lambda: {function: 'lambda x: x'}}]\n",
    "data: {source: iris}\nlayers: [{TFSMLayer: {filepath: x}}]\n",
])
def test_configs_are_data_never_code(cli, tmp_path: Path, text: str) -> None:
    cfg = write_config(tmp_path / "evil.yaml", text)
    r = cli("validate", cfg)
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    assert not (tmp_path / "pwned").exists()


def test_evaluate_refuses_a_model_file_that_would_run_code(cli, tmp_path: Path) -> None:
    """A run folder from a stranger whose model.keras holds a Lambda: safe_mode refuses to deserialize it."""
    import keras

    cfg = write_config(tmp_path / "c.yaml", "data: {source: iris}\nlayers: [{Dense: {units: 3, activation: softmax}}]\n"
                                            "epochs: 1\n")
    run = Path(cli("train", cfg).last_line)
    evil = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x), keras.layers.Dense(3)])
    os.remove(run / "model.keras")
    evil.save(run / "model.keras")
    r = cli("evaluate", run)
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    assert f"{run / 'model.keras'} holds code" in r.stderr and "safe mode refused it" in r.stderr
