"""nnctl against the plain Keras script a user would write for the same config, as whole processes.

    python benchmarks/vs_keras.py                        # all workloads, 5 A/B pairs each
    python benchmarks/vs_keras.py --only fashion_mlp --pairs 3 --epochs 2
    python benchmarks/vs_keras.py --smoke                # one tiny pair: does the runner work?
    python benchmarks/vs_keras.py --only penguins --only iris --pairs 5   # small tables, their own epochs

For each workload it writes an nnctl config and the equivalent Keras script (same model,
data, split, batch size, epochs, seed, validation each epoch, test evaluation, saved model),
runs them alternately A B A B ..., and reports the median wall-time ratio nnctl / plain,
peak RSS, and both test metrics. Prints a Markdown table and a JSON line last.
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

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# The plain script's data loading mirrors nnctl's: same files, same scaling, same seeded split.
COMMON = '''
import json, sys, time, gzip
import numpy as np
import keras
from sklearn.model_selection import train_test_split

def hold_out(x, y, fraction, seed, stratify=True):
    n_hold = int(round(len(y) * fraction))
    keep, hold = train_test_split(np.arange(len(y)), test_size=n_hold, random_state=seed,
                                  stratify=y if stratify else None)
    keep, hold = np.sort(keep), np.sort(hold)
    return (x[keep], y[keep]), (x[hold], y[hold])

def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)

keras.utils.set_random_seed(42)
'''

FASHION_DATA = '''
D = "/usr/share/datasets/fashion-mnist/"
x = (idx(D + "train-images-idx3-ubyte.gz").astype("float32") / 255.0)[..., None]
y = idx(D + "train-labels-idx1-ubyte.gz").astype("int64")
x_test = (idx(D + "t10k-images-idx3-ubyte.gz").astype("float32") / 255.0)[..., None]
y_test = idx(D + "t10k-labels-idx1-ubyte.gz").astype("int64")
(x, y), (x_val, y_val) = hold_out(x, y, 0.1, 43)
'''

FASHION_CONFIG = """
name: fashion-%s
seed: 42
data: {source: fashion_mnist, validation_split: 0.1}
layers:"""
FASHION_FIT = """optimizer: {name: adam, learning_rate: 0.001}
batch_size: 128
epochs: %(epochs)d
"""

FIT = '''
model.compile(optimizer=keras.optimizers.Adam({lr}), loss="{loss}", metrics={metrics})
model.fit(x, y, batch_size={batch}, epochs={epochs}, validation_data=(x_val, y_val), verbose=0)
test = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
model.save(sys.argv[1] + "/model.keras")
print(json.dumps({{k: float(v) for k, v in test.items()}}))
'''

WORKLOADS = {
    "fashion_cnn": {
        "config": FASHION_CONFIG % "cnn" + """
  - Conv2D: {filters: 32, kernel_size: 3, activation: relu}
  - MaxPooling2D: 2
  - Conv2D: {filters: 64, kernel_size: 3, activation: relu}
  - MaxPooling2D: 2
  - Flatten
  - Dropout: 0.3
  - Dense: {units: 128, activation: relu}
  - Dense: {units: 10, activation: softmax}
""" + FASHION_FIT,
        "script": COMMON + FASHION_DATA + '''
L = keras.layers
model = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                          L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(), L.Dropout(0.3),
                          L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")])
''' + FIT.format(lr=0.001, loss="sparse_categorical_crossentropy", metrics='["accuracy"]', batch=128,
                 epochs="%(epochs)d"),
    },
    "fashion_mlp": {
        "config": FASHION_CONFIG % "mlp" + """
  - Flatten
  - Dense: {units: 256, activation: relu}
  - Dense: {units: 128, activation: relu}
  - Dense: {units: 10, activation: softmax}
""" + FASHION_FIT,
        "script": COMMON + FASHION_DATA + '''
L = keras.layers
model = keras.Sequential([keras.Input((28, 28, 1)), L.Flatten(), L.Dense(256, activation="relu"),
                          L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")])
''' + FIT.format(lr=0.001, loss="sparse_categorical_crossentropy", metrics='["accuracy"]', batch=128,
                 epochs="%(epochs)d"),
    },
    "csv_mlp": {
        "config": """
name: csv-mlp
seed: 42
data: {source: %(work)s/table.csv, target: y, validation_split: 0.1, test_split: 0.2}
layers:
  - Normalization
  - Dense: {units: 64, activation: relu}
  - Dense: {units: 64, activation: relu}
  - Dense: 1
optimizer: {name: adam, learning_rate: 0.001}
batch_size: 256
epochs: %(epochs)d
""",
        "script": COMMON + '''
import pandas as pd
df = pd.read_csv(sys.argv[2] + "/table.csv")
x = df.drop(columns="y").to_numpy("float32"); y = df["y"].to_numpy("float32")
(x, y), (x_test, y_test) = hold_out(x, y, 0.2, 42, stratify=False)
(x, y), (x_val, y_val) = hold_out(x, y, 0.1, 43, stratify=False)
norm = keras.layers.Normalization(); norm.adapt(x)
L = keras.layers
model = keras.Sequential([keras.Input((x.shape[1],)), norm, L.Dense(64, activation="relu"),
                          L.Dense(64, activation="relu"), L.Dense(1)])
''' + FIT.format(lr=0.001, loss="mean_squared_error", metrics='["mae", keras.metrics.RootMeanSquaredError()]',
                 batch=256, epochs="%(epochs)d"),
    },
    "lstm": {
        "config": """
name: lstm
seed: 42
task: regression
data: {source: %(repo)s/configs/data/temperature.csv, target: temp, features: [temp, humidity],
       sequence_length: 30, horizon: 1, validation_split: 0.15, test_split: 0.15}
layers:
  - Normalization
  - LSTM: 32
  - Dense: 1
optimizer: {name: adam, learning_rate: 0.005}
batch_size: 32
epochs: %(epochs)d
""",
        "script": COMMON + '''
import pandas as pd
df = pd.read_csv("%(repo)s/configs/data/temperature.csv")
values = df[["temp", "humidity"]].to_numpy("float32"); target = df["temp"].to_numpy("float32")
n = len(values) - 30 - 1 + 1
x = np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(values, (30, 2))[:n, 0])
y = target[30:30 + n]
cut = lambda n_all, f: n_all - int(round(n_all * f))   # time order: the last rows are held out
c = cut(len(y), 0.15); x, y, x_test, y_test = x[:c], y[:c], x[c:], y[c:]
c = cut(len(y), 0.15); x, y, x_val, y_val = x[:c], y[:c], x[c:], y[c:]
norm = keras.layers.Normalization(); norm.adapt(x)
model = keras.Sequential([keras.Input((30, 2)), norm, keras.layers.LSTM(32), keras.layers.Dense(1)])
''' + FIT.format(lr=0.005, loss="mean_squared_error", metrics='["mae", keras.metrics.RootMeanSquaredError()]',
                 batch=32, epochs="%(epochs)d"),
    },
}


def small_table(name: str, source: str, x: str, units: int, epochs: int, layers: str = "") -> dict:
    """A small-table workload (issue 30): a few hundred rows, many epochs; nnctl's config, and what a course's
    notebook does with pandas (one-hot, Normalization, fit with validation_split)."""
    return {
        "epochs": epochs,
        "config": f"""
name: {name}
seed: 42
data: {{source: {source}, target: species, validation_split: 0.15, test_split: 0.2}}
layers:{layers}
  - Dense: {{units: {units}, activation: relu}}
  - Dense: {{units: 3, activation: softmax}}
optimizer: {{name: adam, learning_rate: 0.01}}
batch_size: 16
epochs: %(epochs)d
""",
        "script": COMMON + f'''
import pandas as pd
df = pd.read_csv("{source}")
x = {x}.to_numpy("float32")
species = sorted(df["species"].unique())
y = df["species"].map({{s: i for i, s in enumerate(species)}}).to_numpy("int64")
(x, y), (x_test, y_test) = hold_out(x, y, 0.2, 42)
norm = keras.layers.Normalization(); norm.adapt(x)
model = keras.Sequential([keras.Input((x.shape[1],)), norm, keras.layers.Dense({units}, activation="relu"),
                          keras.layers.Dense(3, activation="softmax")])
''' + FIT.replace("validation_data=(x_val, y_val)", "validation_split=0.15").format(
            lr=0.01, loss="sparse_categorical_crossentropy", metrics='["accuracy"]', batch=16, epochs="%(epochs)d"),
    }


WORKLOADS["penguins"] = small_table("penguins", "%(work)s/penguins.csv", 'pd.get_dummies(df.drop(columns="species"), '
                                    'columns=["island", "sex"])', 32, 60)
WORKLOADS["iris"] = small_table("iris", "%(repo)s/configs/data/iris.csv", 'df.drop(columns="species")', 16, 100,
                                "\n  - Normalization")


def make_penguins(work: Path) -> None:
    """palmerpenguins' own CSV (as configs/data holds it), its 333 complete rows."""
    import pandas as pd

    pd.read_csv(REPO / "configs" / "data" / "penguins.csv").dropna().to_csv(work / "penguins.csv", index=False)


def make_table(work: Path, rows: int = 100_000) -> None:
    """A seeded synthetic regression table: 16 numeric features, a noisy nonlinear target."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 16)).astype("float32")
    y = x[:, 0] * 2 - x[:, 1] ** 2 + np.sin(x[:, 2] * 3) + 0.1 * rng.normal(size=rows)
    header = ",".join([*(f"f{i}" for i in range(16)), "y"])
    np.savetxt(work / "table.csv", np.column_stack([x, y]), delimiter=",", header=header, comments="",
               fmt="%.5f")


def commands(name: str, work: Path, epochs: int) -> dict[str, list[str]]:
    """Write the workload's config and plain script; the command line of each side."""
    spec = WORKLOADS[name]
    values = {"epochs": spec.get("epochs", epochs), "work": work, "repo": REPO}
    cfg = work / f"{name}.yaml"
    cfg.write_text(spec["config"] % values)
    script = work / f"{name}_plain.py"
    script.write_text(spec["script"] % values)
    out_dir = work / f"{name}-plain-out"
    out_dir.mkdir(exist_ok=True)
    nnctl = [sys.executable, "-m", "nnctl.cli", "-q", "train", str(cfg), "--runs-dir", str(work / "runs"), "--json"]
    return {"nnctl": nnctl, "nnctl_f32": [*nnctl, "--set", "mixed_precision=float32"],
            "plain": [sys.executable, str(script), str(out_dir), str(work)]}


def measure(cmd: list[str], env: dict[str, str]) -> dict:
    """Wall time and the child's own peak RSS (wait4's rusage), plus its test metrics."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    if status != 0:
        raise RuntimeError(f"{' '.join(cmd[:5])} failed: {err[-800:]}")
    result = json.loads(out.strip().splitlines()[-1])
    meta = json.loads((Path(result["run_dir"]) / "metrics.json").read_text()) if "run_dir" in result else {}
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "test": result.get("test", result), "policy": meta.get("mixed_precision", "float32"),
            "flop_per_s": (meta.get("throughput") or {}).get("train_flop_per_s")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", choices=sorted(WORKLOADS))
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="csv_mlp only, 1 pair, 1 epoch, 5,000 rows")
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--peaks", type=Path, help="machine.py's JSON line: the share of the peak of the policy used")
    a = ap.parse_args()
    peaks = json.loads(a.peaks.read_text().strip().splitlines()[-1])["matmul_peak"] if a.peaks else {}
    work = a.workdir or Path(tempfile.mkdtemp(prefix="nnctl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    names = ["csv_mlp"] if a.smoke else (a.only or list(WORKLOADS))
    pairs, epochs = (1, 1) if a.smoke else (a.pairs, a.epochs)
    make_table(work, 5_000 if a.smoke else 100_000)
    make_penguins(work)
    env = {**os.environ, "NNCTL_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    report = {}
    for name in names:
        cmds = commands(name, work, epochs)
        times: dict[str, list[dict]] = {"nnctl": [], "plain": [], "nnctl_f32": []}
        # nnctl's default (mixed_precision: auto) and the plain float32 script, A B B A; where auto picked
        # a 16-bit policy, nnctl forced to float32 joins as a third side, so auto is also timed against it.
        sides = ["nnctl", "plain"]
        for i in range(pairs):
            for side in sides if i % 2 == 0 else sides[::-1]:
                times[side].append(measure(cmds[side], env))
            if i == 0 and times["nnctl"][0]["policy"] != "float32":
                sides.insert(1, "nnctl_f32")
                times["nnctl_f32"].append(measure(cmds["nnctl_f32"], env))
        ratios = [n["wall_s"] / p["wall_s"] for n, p in zip(times["nnctl"], times["plain"], strict=True)]
        cpu_ratios = [n["cpu_s"] / p["cpu_s"] for n, p in zip(times["nnctl"], times["plain"], strict=True)]
        report[name] = {
            "pairs": pairs, "epochs": WORKLOADS[name].get("epochs", epochs),
            "median_ratio": statistics.median(ratios),
            "ratios": [round(r, 3) for r in ratios],
            "median_cpu_ratio": statistics.median(cpu_ratios),
            "nnctl_s": statistics.median(t["wall_s"] for t in times["nnctl"]),
            "plain_s": statistics.median(t["wall_s"] for t in times["plain"]),
            "nnctl_rss_mb": max(t["rss_mb"] for t in times["nnctl"]),
            "plain_rss_mb": max(t["rss_mb"] for t in times["plain"]),
            "nnctl_test": times["nnctl"][-1]["test"], "plain_test": times["plain"][-1]["test"],
            "policy": times["nnctl"][-1]["policy"],
        }
        f32 = times["nnctl_f32"]
        if f32:
            auto_ratios = [n["wall_s"] / f["wall_s"] for n, f in zip(times["nnctl"], f32, strict=True)]
            report[name].update({"auto_vs_float32": statistics.median(auto_ratios),
                                 "auto_vs_float32_ratios": [round(r, 3) for r in auto_ratios],
                                 "float32_s": statistics.median(t["wall_s"] for t in f32),
                                 "float32_test": f32[-1]["test"]})
        peak = peaks.get("bfloat16" if "bfloat16" in report[name]["policy"] else "float32", {}).get("flop_per_s")
        rates = [t["flop_per_s"] for t in times["nnctl"] if t["flop_per_s"]]
        if peak and rates:
            report[name]["share_of_peak"] = statistics.median(rates) / peak
        r = report[name]
        print(f"{name}: nnctl {r['nnctl_s']:.1f}s / plain {r['plain_s']:.1f}s = {r['median_ratio']:.3f} "
              f"(pairs {r['ratios']}; CPU time ratio {r['median_cpu_ratio']:.3f}) "
              f"(RSS {r['nnctl_rss_mb']:.0f} / {r['plain_rss_mb']:.0f} MB)", flush=True)
    print("\n| workload | epochs | pairs | policy (auto) | nnctl s | plain s | ratio | CPU-time ratio "
          "| nnctl float32 s | auto / float32 | share of peak | RSS nnctl MB | RSS plain MB | test nnctl "
          "| test nnctl float32 | test plain |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in report.items():
        key = "accuracy" if "accuracy" in r["plain_test"] else "mae"
        f32 = r.get("float32_test", r["nnctl_test"] if r["policy"] == "float32" else {})
        share = f"{r['share_of_peak'] * 100:.0f}%" if "share_of_peak" in r else "-"
        print(f"| {name} | {r['epochs']} | {r['pairs']} | {r['policy']} | {r['nnctl_s']:.1f} | {r['plain_s']:.1f} | "
              f"{r['median_ratio']:.3f} | {r['median_cpu_ratio']:.3f} | "
              f"{r.get('float32_s', r['nnctl_s']):.1f} | {r.get('auto_vs_float32', 1.0):.3f} | {share} | "
              f"{r['nnctl_rss_mb']:.0f} | {r['plain_rss_mb']:.0f} | "
              f"{key} {r['nnctl_test'].get(key, float('nan')):.4f} | {key} {f32.get(key, float('nan')):.4f} | "
              f"{key} {r['plain_test'][key]:.4f} |")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
