"""The graph form's learning quality: configs/autompg_two_heads.yaml (two inputs, two heads) against
two single-output models of the same size (the same branches, one head each) and the naive
baselines (the training mean for mpg, the majority class for origin), over several seeds.

Run: python benchmarks/two_heads.py [SEEDS]   (default 3; about 10 s per training on 2 cores)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

from nnctl.config import load_config
from nnctl.data import load

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "autompg_two_heads.yaml"


def single(raw: dict, keep: str) -> dict:
    """The same model with one head: the other target, its branch and its per-output keys removed."""
    out = yaml.safe_load(yaml.safe_dump(raw))
    drop = next(t for t in out["data"]["targets"] if t != keep)
    del out["data"]["targets"][drop], out["layers"][drop]
    for key in ("loss", "metrics"):
        out[key].pop(drop, None)
    out.pop("loss_weights", None)
    out["name"] = f"{raw['name']}-{keep}-only"
    out["data"]["source"] = str((CONFIG.parent / raw["data"]["source"]).resolve())
    return out


def train(config: Path, seed: int, runs: Path) -> dict:
    p = subprocess.run(["nnctl", "-q", "train", str(config), "--set", f"seed={seed}", "--json"], capture_output=True,
                       text=True, env={**os.environ, "NNCTL_RUNS_DIR": str(runs)}, check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])["test"]


def main() -> None:
    seeds = range(1, 1 + (int(sys.argv[1]) if len(sys.argv) > 1 else 3))
    raw = yaml.safe_load(CONFIG.read_text())
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        variants = {"two heads": CONFIG}
        for keep in ("mpg", "origin"):
            variants[f"{keep} only"] = Path(tmp) / f"{keep}.yaml"
            variants[f"{keep} only"].write_text(yaml.safe_dump(single(raw, keep)))
        for seed in seeds:
            cfg = load_config(CONFIG, [f"seed={seed}"])
            data = load(cfg, CONFIG.parent)  # the split every variant trains and tests on for this seed
            mpg, origin = data.test.y["mpg"], data.test.y["origin"]
            rows.setdefault("baseline mpg_mae (train mean)", []).append(
                float(np.mean(np.abs(mpg - data.train.y["mpg"].mean()))))
            rows.setdefault("baseline origin_accuracy (majority)", []).append(
                float(np.mean(origin == np.bincount(data.train.y["origin"]).argmax())))
            for name, path in variants.items():
                test = train(path, seed, Path(tmp) / "runs")
                for metric in ("mpg_mae", "origin_accuracy"):
                    if metric in test or metric.split("_")[0] in name:
                        value = test.get(metric, test.get(metric.split("_", 1)[1]))
                        rows.setdefault(f"{name} {metric}", []).append(float(value))
    for name, values in rows.items():
        print(f"{name:40s} median {statistics.median(values):.4f}  per seed {', '.join(f'{v:.4f}' for v in values)}")


if __name__ == "__main__":
    main()
