"""Where one epoch's wall time goes in `nnctl train`, for a small table (issue 30).

    python benchmarks/epoch_profile.py CONFIG [--set KEY=VALUE ...]

Trains the config in this process through the Python API with every step of an epoch timed:
building the epoch's dataset and calling `fit`, Keras' set-up before the first batch, the
training batches, the validation pass, each nnctl callback's `on_epoch_end` (checkpoint,
history/metrics, TensorBoard, ...), and what is left. Prints a Markdown table of milliseconds
per epoch (the median over the epochs after the first, which traces) and a JSON line last.
Nothing else may run on the machine while it is timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()  # the interpreter has started; nothing of nnctl or TensorFlow imported yet


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", type=Path)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    a = ap.parse_args()

    import nnctl
    from nnctl.backend import keras
    from nnctl.engine import loop

    K = keras()
    marks: dict[str, list[float]] = defaultdict(list)  # name -> a time per epoch
    spans: dict[str, list[float]] = defaultdict(list)  # name -> seconds per epoch

    class Marks(K.callbacks.Callback):
        """First in the list: the moments Keras reaches inside an epoch."""

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            marks["epoch_begin"].append(time.perf_counter())
            self.first = None

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            if self.first is None:
                self.first = time.perf_counter()
                marks["first_batch"].append(self.first)

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.last = time.perf_counter()

        def on_test_begin(self, logs: Any = None) -> None:
            marks["train_end"].append(self.last)
            marks["test_begin"].append(time.perf_counter())

        def on_test_end(self, logs: Any = None) -> None:
            marks["test_end"].append(time.perf_counter())

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            marks["epoch_end"].append(time.perf_counter())

    def timed(cb: Any) -> Any:
        inner = cb.on_epoch_end

        def on_epoch_end(epoch: int, logs: Any = None) -> None:
            t = time.perf_counter()
            inner(epoch, logs)
            spans[f"on_epoch_end: {type(cb).__name__}"].append(time.perf_counter() - t)

        cb.on_epoch_end = on_epoch_end
        return cb

    chosen = loop.callbacks

    def callbacks(*args: Any, **kwargs: Any) -> list[Any]:
        return [Marks(), *(timed(c) for c in chosen(*args, **kwargs))]

    loop.callbacks = callbacks
    fit = K.Model.fit

    def fit_timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        marks["fit_call"].append(time.perf_counter())
        try:
            return fit(self, *args, **kwargs)
        finally:
            marks["fit_return"].append(time.perf_counter())

    K.Model.fit = fit_timed
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as runs:
        run = nnctl.train(a.config, a.overrides, runs_dir=Path(runs))
        metrics = run.metrics
    total = time.perf_counter() - began
    ended = time.perf_counter()

    n = len(marks["epoch_end"])
    calls = len(marks["fit_call"])
    per_epoch_fit = calls == n  # one fit call per epoch, or one for the whole run
    rows: dict[str, list[float]] = {}
    if per_epoch_fit:
        rows["between fit calls (reseed, the epoch's dataset)"] = [
            marks["fit_call"][i] - marks["fit_return"][i - 1] for i in range(1, n)]
        rows["fit: set-up before on_epoch_begin"] = [marks["epoch_begin"][i] - marks["fit_call"][i] for i in range(n)]
    else:
        rows["between epochs (Keras, reseed)"] = [marks["epoch_begin"][i] - marks["epoch_end"][i - 1]
                                                  for i in range(1, n)]
    rows["epoch begin to first batch (iterator)"] = [marks["first_batch"][i] - marks["epoch_begin"][i]
                                                     for i in range(n)]
    rows["training batches"] = [marks["train_end"][i] - marks["first_batch"][i] for i in range(n)]
    rows["after the batches, before validation"] = [marks["test_begin"][i] - marks["train_end"][i] for i in range(n)]
    rows["validation pass"] = [marks["test_end"][i] - marks["test_begin"][i] for i in range(n)]
    rows["validation end to on_epoch_end"] = [marks["epoch_end"][i] - marks["test_end"][i] for i in range(n)]
    rows.update(spans)
    if per_epoch_fit:
        ends = [marks["epoch_end"][i] + sum(v[i] for v in spans.values()) for i in range(n)]
        rows["fit: after the callbacks, to return"] = [marks["fit_return"][i] - ends[i] for i in range(n)]
    whole = ([marks["fit_call"][i] - marks["fit_call"][i - 1] for i in range(1, n)] if per_epoch_fit
             else [marks["epoch_begin"][i] - marks["epoch_begin"][i - 1] for i in range(1, n)])

    def ms(values: list[float]) -> float:
        steady = values[1:] if len(values) > 2 else values  # the first epoch traces the functions
        return round(statistics.median(steady) * 1000, 2) if steady else 0.0

    out = {name: ms(v) for name, v in rows.items()}
    # The whole run around the epochs: before the first batch (imports, data, checks, build, the first
    # call's tracing shows in the first epoch instead) and after the last epoch (test, figures, report).
    phases = {"start-up: to the first epoch's begin (s)": round(marks["epoch_begin"][0] - STARTED, 3),
              "first epoch, tracing included (s)": round(marks["epoch_end"][0] - marks["epoch_begin"][0], 3),
              "after the last epoch: test, figures, report (s)": round(ended - marks["epoch_end"][-1], 3)}
    print(f"{a.config} {' '.join(a.overrides)}: {n} epochs, {calls} fit call(s), "
          f"duration_s {metrics['duration_s']}, whole process-free run {total:.1f} s, "
          f"checkpoint_every {metrics.get('checkpoint_every')}, "
          f"train examples/s {(metrics.get('throughput') or {}).get('train_examples_per_s')}")
    print("\n| part of an epoch | ms (median) |\n|---|---|")
    for name, v in out.items():
        print(f"| {name} | {v} |")
    print(f"| **one epoch, start to start** | **{ms(whole)}** |")
    print("\n| part of the run | s |\n|---|---|")
    for name, v in phases.items():
        print(f"| {name} | {v} |")
    print(json.dumps({"epochs": n, "fit_calls": calls, "epoch_ms": ms(whole), "parts_ms": out, "phases": phases,
                      "duration_s": metrics["duration_s"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
