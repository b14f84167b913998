"""The commands people type, through the warm server against a new interpreter each (NNCTL_DAEMON=0).

    python benchmarks/warm_commands.py [--pairs 7]

Trains one penguins run (configs/penguins.yaml, 5 epochs), then times whole `nnctl` processes,
alternating warm / cold, for: predict of one row, summary of the run, evaluate, validate, and a
5-epoch penguins training. The server is started (and waited for) before the first pair; it
is stopped at the end. Prints one row per command: median, min and max seconds of each, and the
median ratio warm / cold.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PENGUINS = REPO / "configs" / "penguins.yaml"


def timed(args: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    p = subprocess.run(["nnctl", *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - began
    if p.returncode != 0:
        raise SystemExit(f"nnctl {' '.join(args)} exited {p.returncode}: {p.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=7)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nnctl-warm-"))
    env = {**os.environ, "NNCTL_RUNS_DIR": str(work / "runs"), "NNCTL_DAEMON_DIR": str(work / "daemon"),
           "NNCTL_OFFLINE": "1"}
    os.chdir(work)
    p = subprocess.run(["nnctl", "-q", "train", str(PENGUINS), "--set", "epochs=5", "--json"], env=env,
                       capture_output=True, text=True, check=True)
    run = json.loads(p.stdout.splitlines()[-1])["run_dir"]
    lines = (REPO / "configs" / "data" / "penguins.csv").read_text().splitlines()
    (work / "one.csv").write_text("\n".join(lines[:2]) + "\n")
    cases = {
        "predict one row": ["predict", run, "one.csv", "-o", "p.csv"],
        "summary RUN": ["summary", run],
        "evaluate RUN": ["evaluate", run, "--json"],
        "validate CONFIG": ["validate", str(PENGUINS)],
        "train penguins, 5 epochs": ["-q", "train", str(PENGUINS), "--set", "epochs=5", "--no-report"],
    }
    cold_env = {**env, "NNCTL_DAEMON": "0"}
    print(f"| command | warm median s (min-max) | cold median s (min-max) | warm / cold |  ({opts.pairs} pairs)")
    print("| --- | --- | --- | --- |")
    for name, args in cases.items():
        warm, cold = [], []
        for i in range(opts.pairs):
            order = [(warm, env), (cold, cold_env)] if i % 2 == 0 else [(cold, cold_env), (warm, env)]
            for into, e in order:
                into.append(timed(args, e))
        ratio = statistics.median(w / c for w, c in zip(warm, cold, strict=True))
        print(f"| {name} | {statistics.median(warm):.2f} ({min(warm):.2f}-{max(warm):.2f}) | "
              f"{statistics.median(cold):.2f} ({min(cold):.2f}-{max(cold):.2f}) | {ratio:.2f} |", flush=True)
    subprocess.run(["nnctl", "daemon", "stop"], env=env, capture_output=True)


if __name__ == "__main__":
    main()
