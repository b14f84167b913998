"""Kill a real `nnctl train` with SIGKILL at a random moment, resume it, compare with an uninterrupted run.

    python benchmarks/kill_resume.py                 # 20 repeats on the built-in config
    python benchmarks/kill_resume.py --repeats 3 --config configs/mnist.yaml

Each repeat starts a training, waits until its run folder exists, sleeps a random
time within the reference run's training time, kills it with SIGKILL (possibly again
during the resume), resumes with `nnctl train --resume` until it completes, then
compares every history value and test metric with the uninterrupted run (to 1e-6).
Prints one line per repeat and a JSON summary last.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Dropout, augmentation and shuffling all draw random numbers: the cases resume must get right.
CONFIG = """
name: killme
seed: 11
data: {source: digits, validation_split: 0.1, test_split: 0.2}
input_shape: [8, 8, 1]
augmentation: {rotation_range: 10, width_shift_range: 0.1}
layers:
  - Conv2D: {filters: 16, kernel_size: 3, activation: relu}
  - Flatten
  - Dropout: 0.3
  - Dense: {units: 10, activation: softmax}
optimizer: {name: adam, learning_rate: 0.005}
batch_size: 16
epochs: %d
"""
TOLERANCE = 1e-6


def nnctl(*args: str) -> list[str]:
    return [sys.executable, "-m", "nnctl.cli", *args]


def train(args: list[str], runs_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(nnctl("train", *args, "--runs-dir", str(runs_dir)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_run(proc: subprocess.Popen, runs_dir: Path, timeout: float = 120) -> Path | None:
    """The run folder once it has a metrics.json (training has begun), or None if the process ended first."""
    end = time.time() + timeout
    while time.time() < end:
        found = [p for p in runs_dir.glob("*/metrics.json")] if runs_dir.is_dir() else []
        if found:
            return found[0].parent
        if proc.poll() is not None:
            return None
        time.sleep(0.02)
    raise TimeoutError(f"no run folder appeared in {runs_dir}")


def history(run: Path) -> list[dict[str, float]]:
    with open(run / "history.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def close(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) <= TOLERANCE for k in a)


def compare(run: Path, ref: Path) -> str | None:
    """None when the runs match; otherwise what differs."""
    ha, hb = history(run), history(ref)
    if len(ha) != len(hb):
        return f"{len(ha)} epochs vs {len(hb)}"
    for i, (a, b) in enumerate(zip(ha, hb, strict=True), 1):
        if not close(a, b):
            return f"epoch {i}: {a} vs {b}"
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (run, ref))
    if ma["status"] != "completed" or not close(ma["test"], mb["test"]):
        return f"test {ma['status']} {ma['test']} vs {mb['test']}"
    return None


def one_repeat(cfg: Path, work: Path, window: float, rng: random.Random, kills: int) -> dict:
    runs_dir = work / "runs"
    began = time.time()
    proc = train([str(cfg)], runs_dir)
    run = wait_for_run(proc, runs_dir)
    if run is None:
        return {"run": None, "killed_after_epochs": [], "why": f"did not start: {proc.communicate()[1][-300:]}",
                "tracebacks": 0}
    startup = time.time() - began  # a resumed process spends this before its first batch
    killed_at: list[int] = []
    tracebacks = 0
    for k in range(kills):
        time.sleep(rng.uniform(0, window if k == 0 else startup + window))
        if proc.poll() is not None:
            break  # it finished first
        proc.send_signal(signal.SIGKILL)
        tracebacks += "Traceback" in proc.communicate()[1]
        meta = json.loads((run / "metrics.json").read_text())  # parseable at any moment
        killed_at.append(meta["epochs"])
        if meta["status"] == "completed":  # killed on its way out, after the last write
            return {"run": str(run), "killed_after_epochs": killed_at, "why": None, "tracebacks": tracebacks}
        proc = train(["--resume", str(run)], runs_dir)  # the next kill, if any, hits the resume
    _, err = proc.communicate()
    why = None if proc.returncode == 0 else f"exit {proc.returncode}: {err.strip()[-300:]}"
    tracebacks += "Traceback" in err
    return {"run": str(run), "killed_after_epochs": killed_at, "why": why, "tracebacks": tracebacks}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--kills", type=int, default=1, help="SIGKILLs per repeat (the later ones hit the resume)")
    ap.add_argument("--config", type=Path, help="a config of your own instead of the built-in one")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--precision", default="auto", help="the built-in config's mixed_precision")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    work = a.workdir or Path(tempfile.mkdtemp(prefix="nnctl-kill-"))
    cfg = a.config.resolve() if a.config else work / "killme.yaml"
    if not a.config:
        work.mkdir(parents=True, exist_ok=True)
        cfg.write_text(CONFIG % a.epochs + f"mixed_precision: {a.precision}\n")

    ref_proc = train([str(cfg)], work / "reference")
    _, err = ref_proc.communicate()
    if ref_proc.returncode != 0:
        print(err, file=sys.stderr)
        return 1
    (ref,) = (work / "reference").iterdir()
    window = json.loads((ref / "metrics.json").read_text())["duration_s"]
    results = []
    for i in range(a.repeats):
        r = one_repeat(cfg, work / f"repeat-{i + 1}", window, rng, a.kills)
        if r["why"] is None:
            r["why"] = compare(Path(r["run"]), ref)
        r["match"] = r["why"] is None
        results.append(r)
        print(f"repeat {i + 1}: killed after epoch(s) {r['killed_after_epochs']}: "
              f"{'match' if r['match'] else 'DIFFERS: ' + r['why']}", flush=True)
    summary = {"repeats": a.repeats, "matched": sum(r["match"] for r in results),
               "tracebacks": sum(r["tracebacks"] for r in results),
               "killed_after_epochs": [r["killed_after_epochs"] for r in results], "workdir": str(work),
               "precision": json.loads((ref / "metrics.json").read_text()).get("mixed_precision")}
    print(json.dumps(summary))
    return 0 if summary["matched"] == a.repeats else 1


if __name__ == "__main__":
    os.environ.setdefault("NNCTL_OFFLINE", "1")
    sys.exit(main())
