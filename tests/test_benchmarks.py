"""The benchmark runner's smoke pass, and the throughput and FLOP counts every run records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO, write_config


def test_vs_keras_smoke_pass_runs_both_sides(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, REPO / "benchmarks" / "vs_keras.py", "--smoke", "--workdir", tmp_path],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    report = json.loads(p.stdout.strip().splitlines()[-1])["csv_mlp"]
    assert report["median_ratio"] > 0 and report["nnctl_rss_mb"] > 100 and report["plain_rss_mb"] > 100
    assert abs(report["nnctl_test"]["mae"] - report["plain_test"]["mae"]) < 0.5  # same model, same data


def test_runs_record_throughput_and_training_flops(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", "data: {source: iris}\n"
                       "layers: [{Dense: {units: 8, activation: relu}}, {Dense: {units: 3, activation: softmax}}]\n"
                       "epochs: 2\n")
    run = Path(cli("train", cfg).last_line)
    t = json.loads((run / "metrics.json").read_text())["throughput"]
    assert t["train_flops_per_example"] == 3 * 2 * (4 * 8 + 8 * 3)  # forward multiply-adds x2, training x3
    assert t["train_examples_per_s"] > 0 and abs(t["train_flop_per_s"] / t["train_examples_per_s"] - 336) < 1


def test_jit_compile_is_a_config_key_off_by_default(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", "data: {source: iris}\nlayers: [{Dense: {units: 3, activation: softmax}}]\n"
                                            "epochs: 1\n")
    shown = cli("config", "show", cfg).stdout
    assert "jit_compile: false" in shown
    r = cli("train", cfg, "--set", "jit_compile=true")
    assert r.exit_code == 0, r.stderr
    assert "jit_compile: true" in (Path(r.last_line) / "config.yaml").read_text()
