"""Accuracy held under `mixed_precision: auto`: every example config, trained as written (auto), and
again in float32 where auto picked a 16-bit policy; test metrics side by side.

    python benchmarks/precision_examples.py                    # every configs/*.yaml
    python benchmarks/precision_examples.py --only mnist --noise

Where auto keeps float32 the two runs are the same run, so only auto's is trained. `--noise` also
trains float32 with the next seed: the spread a different seed alone gives, to read the gaps against.
The bar (issue 19): accuracy within 0.5 points, MAE within 3%. Prints a Markdown table, JSON last.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def train(config: Path, runs: Path, *sets: str) -> dict:
    args = [sys.executable, "-m", "nnctl.cli", "-q", "train", str(config), "--runs-dir", str(runs), "--json"]
    for s in sets:
        args += ["--set", s]
    start = time.perf_counter()
    p = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "NNCTL_OFFLINE": "1",
                                                                   "TF_CPP_MIN_LOG_LEVEL": "2"})
    if p.returncode != 0:
        raise RuntimeError(f"{config.name} {sets}: {p.stderr[-500:]}")
    run = Path(json.loads(p.stdout.strip().splitlines()[-1])["run_dir"])
    meta = json.loads((run / "metrics.json").read_text())
    return {"wall_s": time.perf_counter() - start, "policy": meta["mixed_precision"], "test": meta["test"],
            "reason": (meta.get("precision") or {}).get("reason"), "epochs": meta["epochs"]}


def headline(test: dict) -> tuple[str, float]:
    """The metric the bar is about: accuracy (any head's), else MAE, else the loss."""
    for suffix in ("accuracy", "mae", "mean_absolute_error"):
        for k, v in sorted(test.items()):
            if k == suffix or k.endswith("_" + suffix):
                return k, v
    return "loss", test["loss"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", help="config names containing this")
    ap.add_argument("--noise", action="store_true", help="also float32 with seed + 1")
    ap.add_argument("--workdir", type=Path)
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="nnctl-precision-"))
    rows = []
    for config in sorted((REPO / "configs").glob("*.yaml")):
        if a.only and not any(o in config.stem for o in a.only):
            continue
        auto = train(config, work / config.stem)
        row = {"config": config.stem, "policy": auto["policy"], "reason": auto["reason"], "auto": auto}
        if auto["policy"] != "float32":
            row["float32"] = train(config, work / config.stem, "mixed_precision=float32")
            if a.noise:
                seed = (yaml.safe_load(config.read_text()).get("seed") or 0) + 1
                row["float32_next_seed"] = train(config, work / config.stem, "mixed_precision=float32",
                                                 f"seed={seed}")
        rows.append(row)
        print(f"{config.stem}: {auto['policy']}", file=sys.stderr, flush=True)
    print("| config | auto picks | metric | auto | float32 | gap | float32, next seed | auto s | float32 s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        key, value = headline(r["auto"]["test"])
        if "float32" not in r:
            print(f"| {r['config']} | float32 | {key} | {value:.4f} | (same run) | - | - | "
                  f"{r['auto']['wall_s']:.1f} | - |")
            continue
        f32 = r["float32"]["test"][key]
        gap = f"{(value - f32) * 100:+.2f} points" if "accuracy" in key else f"{(value - f32) / f32 * 100:+.1f}%"
        noise = f"{r['float32_next_seed']['test'][key]:.4f}" if "float32_next_seed" in r else "-"
        print(f"| {r['config']} | {r['policy']} | {key} | {value:.4f} | {f32:.4f} | {gap} | {noise} | "
              f"{r['auto']['wall_s']:.1f} | {r['float32']['wall_s']:.1f} |")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
