"""This machine's float32 and bfloat16 matrix-multiply peaks, and nnctl's start-up times.

    python benchmarks/machine.py            # both; prints a Markdown table and a JSON line last

The peak is measured here, never assumed: TensorFlow's matmul on square float32 matrices,
and the same in bfloat16 (oneDNN's AMX or AVX512_BF16 kernels where the CPU has them),
best of several sizes and repeats, FLOP/s = 2 n^3 / seconds. Start-up times are whole
processes (median of 7): `nnctl --help`, `nnctl validate` of a config that fails its
schema, `nnctl runs` over 100 run folders (none of them import TensorFlow), and
`nnctl summary CONFIG` (which must).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def matmul_peak() -> dict:
    """The best matmul rate of each precision (float32, and bfloat16 as oneDNN computes it)."""
    return {"float32": _peak("float32"), "bfloat16": _peak("bfloat16")}


def _peak(dtype: str) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    best = {"flop_per_s": 0.0}
    for n in (1024, 2048, 4096):
        a = tf.cast(tf.random.normal((n, n)), dtype)
        b = tf.cast(tf.random.normal((n, n)), dtype)
        (a @ b).numpy()  # warm up
        reps = max(3, int(2e10 // (2 * n**3)))
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(reps):
                c = a @ b
            c.numpy()
            seconds = (time.perf_counter() - start) / reps
            rate = 2 * n**3 / seconds
            if rate > best["flop_per_s"]:
                best = {"flop_per_s": rate, "n": n}
    best["threads"] = os.cpu_count()
    return best


def startup() -> dict:
    work = Path(tempfile.mkdtemp(prefix="nnctl-startup-"))
    bad = work / "bad.yaml"
    bad.write_text("data: {source: digits}\nlayers: [Dense]\nepoch: 3\n")
    for i in range(100):
        run = work / "runs" / f"run-{i:03d}"
        run.mkdir(parents=True)
        (run / "config.yaml").write_text("name: r\n")
        (run / "metrics.json").write_text(json.dumps({
            "status": "completed", "started_at": 1.8e9 + i, "epochs": 3, "test": {"accuracy": i / 100},
            "hparams": {"optimizer.learning_rate": [0.1, 0.01][i % 2], "batch_size": 32}}))
    nnctl = [sys.executable, "-m", "nnctl.cli"]
    cases = {
        "nnctl --help": [*nnctl, "--help"],
        "nnctl validate (schema error)": [*nnctl, "validate", str(bad)],
        "nnctl runs (100 runs)": [*nnctl, "runs", str(work / "runs")],
        "nnctl summary configs/mnist.yaml": [*nnctl, "summary", str(REPO / "configs" / "mnist.yaml")],
        "python -c 'import tensorflow' (reference)": [sys.executable, "-c", "import tensorflow"],
    }
    times = {}
    for name, cmd in cases.items():
        samples = []
        for _ in range(7):
            start = time.perf_counter()
            subprocess.run(cmd, capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
            samples.append(time.perf_counter() - start)
        times[name] = statistics.median(samples)
    return times


def main() -> int:
    times = {} if "--peak-only" in sys.argv else startup()
    peak = matmul_peak()
    print("| command | median wall s |\n|---|---|")
    for name, seconds in times.items():
        print(f"| `{name}` | {seconds:.3f} |")
    for dtype, p in peak.items():
        print(f"\n{dtype} matmul peak: {p['flop_per_s'] / 1e9:.1f} GFLOP/s (n={p['n']}, {p['threads']} cores)")
    print(json.dumps({"startup_s": times, "matmul_peak": peak}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
