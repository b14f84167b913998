"""What a user sees: no TensorFlow start-up noise, progress on stderr, results on stdout, --quiet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import nnctl, write_config

IRIS = "name: iris\ndata: {source: iris}\nlayers: [{Dense: {units: 3, activation: softmax}}]\nepochs: 2\n"
NOISE = ("oneDNN", "cuda", "absl", "I0000", "W0000", "E0000", "cpu_feature_guard", "TF_ENABLE_ONEDNN_OPTS",
         "All log messages before", "rebuild TensorFlow", "Traceback")


def test_default_train_shows_progress_and_metrics_but_no_tensorflow_noise(tmp_path: Path) -> None:
    p = nnctl("train", write_config(tmp_path / "iris.yaml", IRIS))
    assert p.returncode == 0, p.stderr
    assert not [n for n in NOISE if n in p.stderr], p.stderr
    lines = p.stderr.splitlines()
    assert any(line.startswith("epoch 1/2  ") and "val_loss" in line for line in lines)  # plain lines off a TTY
    assert "test metrics" in p.stderr and "accuracy" in p.stderr
    assert len(p.stdout.splitlines()) == 1 and Path(p.stdout.strip()).is_dir()  # stdout: the result only
    verbose = nnctl("-v", "validate", tmp_path / "iris.yaml")
    assert verbose.returncode == 0 and any(n in verbose.stderr for n in NOISE[:6])  # --verbose lets it through


def test_quiet_keeps_only_errors_and_the_final_line(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS.replace("softmax", "sigmoid"))  # unusual: a warning
    assert "warning: layers.0.Dense: sigmoid output" in nnctl("train", cfg).stderr
    p = nnctl("-q", "train", cfg)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert len(p.stdout.splitlines()) == 1 and Path(p.stdout.strip()).is_dir()
    p = nnctl("--quiet", "train", cfg, "--set", "epochs=0")
    assert p.returncode == 2 and p.stderr.startswith("error: epochs")


def test_shell_completion_completes_commands_and_options() -> None:
    import os

    script = Path(sys.executable).parent / "nnctl"  # completion keys on the installed program's name

    def complete(words: str) -> list[str]:
        env = {**os.environ, "_NNCTL_COMPLETE": "complete_bash", "COMP_WORDS": words,
               "COMP_CWORD": str(len(words.split()) - 1)}
        p = subprocess.run([script], env=env, capture_output=True, text=True, timeout=60)
        return p.stdout.split()

    assert complete("nnctl sw") == ["sweep"]
    assert "--resume" in complete("nnctl train --re")
