"""nnctl against Ludwig on the same small table and model size, as whole processes (issue 30).

    python -m venv /tmp/ludwig && /tmp/ludwig/bin/pip install 'ludwig==0.11.*'   # a scratch virtualenv
    python benchmarks/vs_ludwig.py --ludwig /tmp/ludwig/bin/ludwig [--pairs 5]

The table is palmerpenguins' 333 complete rows (as `vs_keras.py --only penguins` uses): island and
sex as categories, five numbers, species to predict. nnctl trains its `penguins` workload (Dense 32
on the standardised inputs, softmax; adam 0.01, batch 16, 60 epochs); Ludwig the same: a concat
combiner with one 32-unit layer, the same optimizer, batch size and epochs, early stopping off, a
65/15/20 split, through `ludwig experiment` (train, then test). Runs alternate A B / B A; prints
the median wall-time ratio Ludwig / nnctl, both test accuracies, and a JSON line last.
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
import vs_keras  # noqa: E402

LUDWIG_CONFIG = """
input_features:
  - {name: island, type: category}
  - {name: sex, type: category}
  - {name: bill_length_mm, type: number}
  - {name: bill_depth_mm, type: number}
  - {name: flipper_length_mm, type: number}
  - {name: body_mass_g, type: number}
  - {name: year, type: number}
output_features:
  - {name: species, type: category}
combiner: {type: concat, num_fc_layers: 1, output_size: 32}
preprocessing:
  split: {type: random, probabilities: [0.65, 0.15, 0.2]}
trainer:
  epochs: 60
  batch_size: 16
  learning_rate: 0.01
  optimizer: {type: adam}
  early_stop: -1
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {proc.stderr[-800:]}")
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ludwig", required=True, help="the ludwig command of a scratch virtualenv")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--workdir", type=Path)
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="nnctl-ludwig-"))
    work.mkdir(parents=True, exist_ok=True)
    vs_keras.make_penguins(work)
    (work / "ludwig.yaml").write_text(LUDWIG_CONFIG)
    env = {**os.environ, "NNCTL_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    sides = {
        "nnctl": [*vs_keras.commands("penguins", work, 60)["nnctl"]],
        "ludwig": [a.ludwig, "experiment", "--dataset", str(work / "penguins.csv"), "--config",
                   str(work / "ludwig.yaml"), "--output_directory", str(work / "ludwig-out"),
                   "--skip_save_processed_input", "--logging_level", "error"],
    }
    times: dict[str, list[float]] = {"nnctl": [], "ludwig": []}
    for i in range(a.pairs):
        for side in ("nnctl", "ludwig") if i % 2 == 0 else ("ludwig", "nnctl"):
            times[side].append(timed(sides[side], env))
    ratios = [lu / nn for nn, lu in zip(times["nnctl"], times["ludwig"], strict=True)]
    runs = sorted((work / "runs").glob("penguins-*/metrics.json"))
    ludwig_test = sorted((work / "ludwig-out").glob("*/test_statistics.json"))
    result = {
        "pairs": a.pairs, "nnctl_s": statistics.median(times["nnctl"]), "ludwig_s": statistics.median(times["ludwig"]),
        "ludwig_over_nnctl": statistics.median(ratios), "ratios": [round(r, 3) for r in ratios],
        "nnctl_test_accuracy": json.loads(runs[-1].read_text())["test"]["accuracy"],
        "ludwig_test_accuracy": json.loads(ludwig_test[-1].read_text())["species"]["accuracy"],
    }
    print(f"nnctl {result['nnctl_s']:.1f} s, Ludwig {result['ludwig_s']:.1f} s: Ludwig / nnctl = "
          f"{result['ludwig_over_nnctl']:.2f} (pairs {result['ratios']}); test accuracy "
          f"{result['nnctl_test_accuracy']:.4f} / {result['ludwig_test_accuracy']:.4f}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
