"""Peak memory of `nnctl train` on a streamed .npy of 1x and 4x a base size.

Streaming reads one batch-sized block at a time (os.pread), so peak RSS should
stay flat (within 20%) as the file grows; loading the file whole is shown for
contrast. Run: python benchmarks/stream_rss.py [--base-mb 256] [--dir /tmp/nnctl-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

CONFIG = """
name: stream-{tag}
data: {{source: {x}, labels: {y}, stream: {stream}, validation_split: 0.05, test_split: 0.05}}
layers: [Flatten, {{Dense: {{units: 2, activation: softmax}}}}]
batch_size: 256
epochs: 1
"""


def make(folder: Path, mb: int) -> tuple[Path, Path]:
    rows = mb * 2**20 // (64 * 64)
    x_path, y_path = folder / f"x_{mb}mb.npy", folder / f"y_{mb}mb.npy"
    if not x_path.exists():
        x = np.lib.format.open_memmap(x_path, mode="w+", dtype="uint8", shape=(rows, 64, 64))
        rng = np.random.default_rng(0)
        for i in range(0, rows, 8192):  # written in chunks: the generator itself stays small
            x[i:i + 8192] = rng.integers(0, 256, size=x[i:i + 8192].shape, dtype="uint8")
        x.flush()
        del x
        np.save(y_path, (np.arange(rows) % 2).astype("int64"))
    return x_path, y_path


def peak_rss_mb(config: Path, runs: Path) -> tuple[float, float]:
    cmd = ["/usr/bin/time", "-f", "MAXRSS %M WALL %e", "nnctl", "train", str(config), "--runs-dir", str(runs)]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "NNCTL_OFFLINE": "1"})
    if r.returncode:
        sys.exit(r.stderr[-2000:])
    m = re.search(r"MAXRSS (\d+) WALL ([\d.]+)", r.stderr)
    return int(m.group(1)) / 1024, float(m.group(2))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-mb", type=int, default=256)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/nnctl-bench"))
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    results = []
    for factor, stream in ((1, "true"), (4, "true"), (1, "false")):
        mb = args.base_mb * factor
        x, y = make(args.dir, mb)
        cfg = args.dir / f"stream_{mb}_{stream}.yaml"
        cfg.write_text(CONFIG.format(tag=mb, x=x, y=y, stream=stream))
        rss, wall = peak_rss_mb(cfg, args.dir / "runs")
        results.append({"file_mb": mb, "streamed": stream == "true", "peak_rss_mb": round(rss), "wall_s": wall})
        print(json.dumps(results[-1]), flush=True)
    s1, s4 = results[0]["peak_rss_mb"], results[1]["peak_rss_mb"]
    print(f"streamed 4x/1x peak RSS: {s4 / s1:.2f} ({'flat' if s4 <= 1.2 * s1 else 'NOT flat'})")


if __name__ == "__main__":
    main()
