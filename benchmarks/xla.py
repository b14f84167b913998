"""XLA on or off: `jit_compile: true` against the default, as whole `nnctl train` processes.

    python benchmarks/xla.py                       # the Fashion-MNIST CNN of vs_keras.py, 1 epoch, 3 pairs
    python benchmarks/xla.py --workload fashion_mlp --pairs 5 --epochs 2

Alternates off/on (then on/off) and prints, for each side, the median wall time and the
training throughput nnctl records in metrics.json, with the test accuracy of the last run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vs_keras  # noqa: E402  (the same workloads and configs)


def run(cmd: list[str], env: dict[str, str]) -> dict:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    wall = time.perf_counter() - start
    result = json.loads(out.strip().splitlines()[-1])
    meta = json.loads((Path(result["run_dir"]) / "metrics.json").read_text())
    return {"wall_s": wall, "examples_per_s": meta["throughput"]["train_examples_per_s"], "test": result["test"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="fashion_cnn", choices=sorted(vs_keras.WORKLOADS))
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=1)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nnctl-xla-"))
    vs_keras.make_table(work)
    base = vs_keras.commands(a.workload, work, a.epochs)["nnctl"]
    env = {**os.environ, "NNCTL_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    sides: dict[str, list[dict]] = {"false": [], "true": []}
    for i in range(a.pairs):
        for jit in ("false", "true") if i % 2 == 0 else ("true", "false"):
            sides[jit].append(run([*base, "--set", f"jit_compile={jit}"], env))
    report = {f"jit_compile={jit}": {"median_wall_s": round(statistics.median(r["wall_s"] for r in rs), 2),
                                     "median_train_examples_per_s": statistics.median(r["examples_per_s"] for r in rs),
                                     "test": rs[-1]["test"]} for jit, rs in sides.items()}
    for side, r in report.items():
        print(f"{a.workload} {side}: {r['median_wall_s']} s, {r['median_train_examples_per_s']:.0f} train examples/s, "
              f"test {r['test']}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
