"""Which layer types and sizes train faster in mixed_bfloat16 than in float32 on this machine.

    python benchmarks/precision.py                 # every case, 3 alternating rounds
    python benchmarks/precision.py --only cnn --rounds 5

Each case is a small Keras model on synthetic data of the right shape, trained with `fit` for a
fixed number of batches after a warm-up epoch (compilation excluded). The two policies alternate
within one process, float32 then bfloat16 then float32 ..., and the median steady-state examples/s
of each is reported with the ratio. This is what `mixed_precision: auto`'s rule was read from
(nnctl/engine/precision.py): run it again on a new machine before trusting the rule there.
Nothing else may run on the machine while it times. Prints a Markdown table and a JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cases() -> dict:
    import keras

    L = keras.layers

    def seq(shape, layers):
        return lambda: keras.Sequential([keras.Input(shape), *layers()])

    # name: (model factory, input shape, label kind, batch size)
    return {
        "cnn (fashion, 32/64 filters)": (seq((28, 28, 1), lambda: [
            L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2), L.Conv2D(64, 3, activation="relu"),
            L.MaxPooling2D(2), L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax",
                                                                                     dtype="float32")]),
            (28, 28, 1), 10, 128),
        "cnn small (digits 8x8, 16 filters)": (seq((8, 8, 1), lambda: [
            L.Conv2D(16, 3, activation="relu"), L.Flatten(), L.Dense(10, activation="softmax", dtype="float32")]),
            (8, 8, 1), 10, 32),
        "mlp 784-256-128 (fashion)": (seq((784,), lambda: [
            L.Dense(256, activation="relu"), L.Dense(128, activation="relu"),
            L.Dense(10, activation="softmax", dtype="float32")]), (784,), 10, 128),
        "mlp 784-256-128 batch 32": (seq((784,), lambda: [
            L.Dense(256, activation="relu"), L.Dense(128, activation="relu"),
            L.Dense(10, activation="softmax", dtype="float32")]), (784,), 10, 32),
        "mlp 784-256-128 batch 512": (seq((784,), lambda: [
            L.Dense(256, activation="relu"), L.Dense(128, activation="relu"),
            L.Dense(10, activation="softmax", dtype="float32")]), (784,), 10, 512),
        "mlp 64-256-256 batch 128": (seq((64,), lambda: [
            L.Dense(256, activation="relu"), L.Dense(256, activation="relu"),
            L.Dense(10, activation="softmax", dtype="float32")]), (64,), 10, 128),
        "cnn 8x8 32/64 filters batch 64": (seq((8, 8, 1), lambda: [
            L.Conv2D(32, 3, activation="relu"), L.Conv2D(64, 3, activation="relu"), L.Flatten(),
            L.Dense(10, activation="softmax", dtype="float32")]), (8, 8, 1), 10, 64),
        "cnn (fashion) batch 32": (seq((28, 28, 1), lambda: [
            L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2), L.Conv2D(64, 3, activation="relu"),
            L.MaxPooling2D(2), L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax",
                                                                                     dtype="float32")]),
            (28, 28, 1), 10, 32),
        "text (embedding 64 + conv1d 128, 200 tokens)": (seq((200,), lambda: [
            L.Embedding(20000, 64), L.Conv1D(128, 5, activation="relu"), L.GlobalMaxPooling1D(),
            L.Dense(2, activation="softmax", dtype="float32")]), (200,), -20000, 32),
        "mlp 8-64-64 (csv)": (seq((8,), lambda: [
            L.Dense(64, activation="relu"), L.Dense(64, activation="relu"), L.Dense(1, dtype="float32")]),
            (8,), 0, 256),
        "mlp 512-1024x2 (wide)": (seq((512,), lambda: [
            L.Dense(1024, activation="relu"), L.Dense(1024, activation="relu"),
            L.Dense(10, activation="softmax", dtype="float32")]), (512,), 10, 256),
        "lstm 32 (30 steps)": (seq((30, 2), lambda: [L.LSTM(32), L.Dense(1, dtype="float32")]), (30, 2), 0, 32),
        "lstm 128 (50 steps)": (seq((50, 8), lambda: [L.LSTM(128), L.Dense(1, dtype="float32")]),
                                (50, 8), 0, 64),
        "gru 64 (30 steps)": (seq((30, 4), lambda: [L.GRU(64), L.Dense(1, dtype="float32")]), (30, 4), 0, 32),
        "conv1d 64 (200 steps)": (seq((200, 8), lambda: [
            L.Conv1D(64, 5, activation="relu"), L.Conv1D(64, 5, activation="relu"), L.GlobalAveragePooling1D(),
            L.Dense(2, activation="softmax", dtype="float32")]), (200, 8), 2, 64),
        "text (embedding 16 + conv1d 32)": (seq((24,), lambda: [
            L.Embedding(2000, 16), L.Conv1D(32, 3, activation="relu"), L.GlobalMaxPooling1D(),
            L.Dense(2, activation="softmax", dtype="float32")]), (24,), -2000, 32),
        "mobilenetv2 96x96 (application)": (lambda: keras.Sequential([
            keras.Input((96, 96, 3)), keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None,
                                                                     include_top=False, pooling="avg"),
            L.Dense(10, activation="softmax", dtype="float32")]), (96, 96, 3), 10, 32),
        "vgg16 32x32 (application)": (lambda: keras.Sequential([
            keras.Input((32, 32, 3)), keras.applications.VGG16(input_shape=(32, 32, 3), weights=None,
                                                               include_top=False, pooling="avg"),
            L.Dense(10, activation="softmax", dtype="float32")]), (32, 32, 3), 10, 64),
    }


def measure(factory, shape, classes: int, batch: int, policy: str, steps: int) -> float:
    import keras
    import numpy as np

    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    model = factory()
    n = batch * steps
    rng = np.random.default_rng(0)
    if classes < 0:  # token ids
        x = rng.integers(0, -classes, size=(n, *shape)).astype("int32")
        classes = 2
    else:
        x = rng.normal(size=(n, *shape)).astype("float32")
    y = rng.integers(0, classes, size=n) if classes else rng.normal(size=(n, 1)).astype("float32")
    loss = "sparse_categorical_crossentropy" if classes else "mse"
    model.compile(optimizer="adam", loss=loss, steps_per_execution=min(32, steps))
    model.fit(x[: batch * min(32, steps)], y[: batch * min(32, steps)], batch_size=batch, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    return n / (time.perf_counter() - start)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", action="append", help="cases whose name contains this")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0, help="about this long per timed fit")
    a = ap.parse_args()
    rows = []
    for name, (factory, shape, classes, batch) in cases().items():
        if a.only and not any(o in name for o in a.only):
            continue
        # Size the timed fit from one float32 probe: about --seconds of batches.
        rate = measure(factory, shape, classes, batch, "float32", 32)
        steps = max(32, int(a.seconds * rate / batch) // 32 * 32)
        got: dict[str, list[float]] = {"float32": [], "mixed_bfloat16": []}
        for r in range(a.rounds):
            order = ["float32", "mixed_bfloat16"] if r % 2 == 0 else ["mixed_bfloat16", "float32"]
            for policy in order:
                got[policy].append(measure(factory, shape, classes, batch, policy, steps))
        f32, bf16 = statistics.median(got["float32"]), statistics.median(got["mixed_bfloat16"])
        rows.append({"case": name, "batch": batch, "float32_ex_s": round(f32), "bf16_ex_s": round(bf16),
                     "speedup": round(bf16 / f32, 3), "rounds": a.rounds,
                     "ratios": [round(b / f, 3) for f, b in zip(got["float32"], got["mixed_bfloat16"], strict=True)]})
        print(f"{name}: float32 {f32:.0f}/s, bf16 {bf16:.0f}/s, x{bf16 / f32:.2f}", file=sys.stderr, flush=True)
    print("| case | batch | float32 ex/s | bfloat16 ex/s | bf16 speed-up (median) | per-round |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['batch']} | {r['float32_ex_s']} | {r['bf16_ex_s']} | **{r['speedup']:.2f}** | "
              f"{' '.join(f'{x:.2f}' for x in r['ratios'])} |")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
