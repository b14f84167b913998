"""`mixed_precision: auto` and the forced policies: what auto picks and why (in metrics.json, on
stderr, in the saved config), each policy honoured, exact resume and every export under bfloat16.

What `auto` picks depends on the machine (a CPU with AMX-BF16/AVX512_BF16, a GPU of compute
capability 8.0 on): the tests expect what this machine's flags say, read without TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import IRIS, REPO, last_json, nnctl, write_config
from nnctl.engine import precision

NATIVE = bool(set(precision.CPU_FLAGS) & precision.cpu_flags()) and \
    os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").lower() not in ("0", "false")

# 8x8 digits through two 64-filter convolutions: 0.47 GFLOP per batch of 128, over the rule's 0.3.
CNN = """
name: wide-cnn
seed: 3
data: {source: digits, validation_split: 0.1, test_split: 0.2}
input_shape: [8, 8, 1]
layers:
  - Conv2D: {filters: 64, kernel_size: 3, activation: relu}
  - Conv2D: {filters: 64, kernel_size: 3, activation: relu}
  - Flatten
  - Dropout: 0.2
  - Dense: {units: 10, activation: softmax}
batch_size: 128
epochs: 2
"""


def policies(run: Path, file: str = "model.keras") -> list[tuple[str, str]]:
    """(class, dtype policy) of each layer of a saved model, in order."""
    with zipfile.ZipFile(run / file) as z:
        layers = json.loads(z.read("config.json"))["config"]["layers"]
    return [(x["class_name"], x["config"]["dtype"]["config"]["name"]) for x in layers
            if x["class_name"] != "InputLayer"]


def test_the_rule_on_each_kind_of_model() -> None:
    assert precision.decide(False, "the CPU (no AMX-BF16 or AVX512_BF16)", [], 1e10)[0] == "float32"
    policy, reason = precision.decide(True, "the CPU", ["LSTM"], 1e10)
    assert policy == "float32" and "LSTM" in reason
    policy, reason = precision.decide(True, "the CPU", [], 7.2e6)
    assert policy == "float32" and "7.2 MFLOP per training batch" in reason
    assert precision.decide(True, "the CPU", [], None)[0] == "float32"  # uncountable: no gain known
    policy, reason = precision.decide(True, "the CPU, with amx_bf16,", [], 2.0e9)
    assert policy == "mixed_bfloat16" and "2 GFLOP per training batch" in reason


def test_auto_picks_by_the_machine_and_the_model_and_records_why(tmp_path: Path) -> None:
    """Separate processes, as users run them: a wide CNN (bfloat16 where native) and a small MLP."""
    cnn = write_config(tmp_path / "cnn.yaml", CNN)
    p = nnctl("train", cnn)
    assert p.returncode == 0, p.stderr
    run = Path(p.stdout.strip().splitlines()[-1])
    meta = json.loads((run / "metrics.json").read_text())
    want = "mixed_bfloat16" if NATIVE else "float32"
    assert meta["mixed_precision"] == want and meta["precision"]["policy"] == want
    assert meta["precision"]["requested"] == "auto"
    lines = [line for line in p.stderr.splitlines() if line.startswith("precision: ")]
    assert lines == [f"precision: {want} (auto: {meta['precision']['reason']})"]
    assert ("477 MFLOP per training batch" if NATIVE else "natively") in lines[0]
    # The choice is saved as the run's policy: a resume trains in it whatever this machine would pick.
    assert yaml.safe_load((run / "config.yaml").read_text())["mixed_precision"] == want
    resumed = nnctl("train", "--resume", run, "--epochs", "3")
    assert resumed.returncode == 0, resumed.stderr
    assert [x for x in resumed.stderr.splitlines() if x.startswith("precision: ")] == lines  # the first reason
    assert policies(run) == [("Conv2D", want), ("Conv2D", want), ("Flatten", want), ("Dropout", want),
                             ("Dense", "float32")]  # the output layer stays float32
    small = write_config(tmp_path / "iris.yaml", IRIS)
    p = nnctl("train", small)
    meta = json.loads((Path(p.stdout.strip().splitlines()[-1]) / "metrics.json").read_text())
    assert meta["precision"]["policy"] == "float32"
    if NATIVE:
        assert "per training batch, under the 300 MFLOP" in meta["precision"]["reason"]


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_a_named_policy_is_forced(cli, tmp_path: Path, policy: str) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS + f"mixed_precision: {policy}\nepochs: 1\n")
    r = cli("train", cfg)
    assert r.exit_code == 0, r.stderr
    run = Path(r.last_line)
    meta = json.loads((run / "metrics.json").read_text())
    assert meta["precision"] == {"policy": policy, "requested": policy, "reason": "set in the config"}
    assert policies(run) == [("Dense", policy), ("Dense", "float32")]


def test_a_config_saved_with_null_is_float32(cli, tmp_path: Path) -> None:
    """Runs of earlier versions saved `mixed_precision: null` for float32; they still resume."""
    cfg = write_config(tmp_path / "iris.yaml", IRIS + "mixed_precision: null\nepochs: 1\n")
    r = cli("train", cfg)
    assert r.exit_code == 0, r.stderr
    assert json.loads((Path(r.last_line) / "metrics.json").read_text())["mixed_precision"] == "float32"
    r = cli("validate", write_config(tmp_path / "bad.yaml", IRIS + "mixed_precision: bf16\n"))
    assert r.exit_code == 2 and "mixed_precision" in r.stderr and "mixed_bfloat16" in r.stderr


@pytest.mark.slow  # 26 s: exact resume is proved in the default tier in float32 (test_resume.py)
def test_sigkill_and_resume_under_bfloat16_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, REPO / "benchmarks" / "kill_resume.py", "--repeats", "1", "--epochs", "3",
                        "--kills", "1", "--seed", "5", "--precision", "mixed_bfloat16", "--workdir", tmp_path / "k"],
                       capture_output=True, text=True, timeout=300)
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert p.returncode == 0 and summary["matched"] == 1 and summary["tracebacks"] == 0, p.stdout + p.stderr
    assert summary["precision"] == "mixed_bfloat16"


@pytest.mark.parametrize("formats", [
    ("keras", "tflite"),  # the bfloat16 copy, and a float32 conversion (what every serving format shares)
    pytest.param(("saved_model", "onnx"), marks=pytest.mark.slow),
])
def test_every_export_of_a_bfloat16_model_round_trips(tmp_path: Path, formats: tuple[str, ...]) -> None:
    """Each format in a new process: the keras copy keeps bfloat16; the serving formats are float32
    copies, checked exactly against that copy, and close to the model as trained."""
    cfg = write_config(tmp_path / "cnn.yaml",
                       CNN.replace("epochs: 2", "epochs: 1") + "mixed_precision: mixed_bfloat16\n")
    p = nnctl("train", cfg)
    assert p.returncode == 0, p.stderr
    run = p.stdout.strip().splitlines()[-1]
    for fmt in formats:
        result = last_json(nnctl("export", run, "--format", fmt, "--json"))
        assert result["max_abs_diff"] <= 1e-4, result
        if fmt == "keras":
            assert "converted" not in result
            assert policies(Path(run), "export/model.keras")[0] == ("Conv2D", "mixed_bfloat16")
        else:
            assert result["converted"] == "float32 (trained in mixed_bfloat16)"
            assert 0 < result["max_abs_diff_vs_trained"] < 0.05, result  # bfloat16's rounding, no more
    from sklearn.datasets import load_digits

    np.save(tmp_path / "x.npy", load_digits().images[:5, ..., None].astype("float32"))
    predicted = nnctl("predict", run, tmp_path / "x.npy")
    assert predicted.returncode == 0, predicted.stderr
    rows = predicted.stdout.strip().splitlines()
    assert len(rows) == 6 and rows[0].startswith("id,predicted,probability,p_0")


@pytest.mark.slow  # a sweep of three trainings: the slow tier (.ci/run); each policy's own run is in the default tier
def test_a_sweep_over_policies_records_each_point_s_own(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS + "epochs: 1\n")
    r = cli("sweep", cfg, "--grid", "mixed_precision=float32,mixed_bfloat16", "--json")
    assert r.exit_code == 0, r.stderr
    got = sorted(json.loads((Path(b["path"]) / "metrics.json").read_text())["precision"]["policy"]
                 for b in json.loads(r.stdout))
    assert got == ["float32", "mixed_bfloat16"]
