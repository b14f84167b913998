"""`mixed_precision: auto`: train in mixed_bfloat16 where the hardware computes bfloat16 natively
and the model gains from it, else in float32.

The rule was read from `benchmarks/precision.py` (steady-state training throughput, both policies
alternating in one process, on a 2-core CPU with AMX-BF16 and AVX512_BF16; medians of 3 rounds):

- Convolutions and Dense layers with enough arithmetic per batch gain: the Fashion-MNIST CNN
  (2.0 GFLOP per training batch of 128) x2.24, at batch 32 (0.5 GFLOP) x1.42; Conv1D over 200
  steps (1.7 GFLOP) x1.46; a text Conv1D of 128 filters (1.5 GFLOP) x1.34; Dense 1024x2 (2.4 GFLOP)
  x1.60; VGG16 x1.74, MobileNetV2 x1.46; a Dense stack at batch 512 (720 MFLOP) x1.17.
- Between 45 and 250 MFLOP the gain is small (x1.01-1.13) and a whole process does not show it:
  the Fashion-MNIST MLP (180 MFLOP) ran 0.99x as long, with 0.12 points less accuracy
  (`benchmarks/vs_keras.py`, 3 pairs). Smaller models lose, the casts costing more than the
  arithmetic saves: a CSV MLP (7 MFLOP) x0.90, a small text model (6.5 MFLOP) x0.89, an 8x8 CNN
  of 16 filters (2 MFLOP) x0.74.
- Recurrent layers lose at every size tried: LSTM 32 x0.66, LSTM 128 x0.84, GRU 64 x0.87.

So: bfloat16 when the devices compute it natively, no layer is recurrent, and a training batch
(per replica) costs at least MIN_FLOP_PER_BATCH. A model whose FLOPs cannot be counted stays float32.
The rule is deterministic, so `validate`, `train` and a resumed run agree; the resolved policy is
saved in the run's config.yaml, and a resumed run uses it whatever this machine would pick.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIN_FLOP_PER_BATCH = 3e8  # clear gains from 505 MFLOP up; x1.01-1.13 (a whole process: none) at 45-250
RECURRENT = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "RNN")
CPU_FLAGS = ("amx_bf16", "avx512_bf16")  # oneDNN computes bfloat16 with these; without, it emulates


@dataclass(frozen=True)
class Choice:
    policy: str  # the Keras dtype policy the run trains in
    requested: str  # what the config said: auto or a policy
    reason: str

    def info(self) -> dict[str, str]:
        return {"policy": self.policy, "requested": self.requested, "reason": self.reason}


def forced(policy: str) -> Choice:
    return Choice(policy, policy, "set in the config")


def auto(model: Any, per_replica_batch: float, flops: int | None) -> Choice:
    """The policy `auto` picks for this float32-built model (`flops` its training FLOPs per
    example) on this machine's devices."""
    native, device = native_bfloat16()
    layers = list(_layers(model))
    recurrent = sorted({type(x).__name__ for x in layers if type(x).__name__ in RECURRENT})
    policy, reason = decide(native, device, recurrent, None if flops is None else flops * per_replica_batch)
    return Choice(policy, "auto", reason)


def decide(native: bool, device: str, recurrent: list[str], flop_per_batch: float | None) -> tuple[str, str]:
    """The rule, on what `auto` found: (policy, the reason in words)."""
    if not native:
        return "float32", f"{device} does not compute bfloat16 natively"
    if recurrent:
        return "float32", f"{', '.join(recurrent)} trained 0.66-0.87x as fast in bfloat16 as in float32 here"
    if flop_per_batch is None:
        return "float32", "the model has layers whose arithmetic nnctl cannot count, so no gain is known"
    size = f"{flops(flop_per_batch)} per training batch"
    if flop_per_batch < MIN_FLOP_PER_BATCH:
        return "float32", (f"{size}, under the {flops(MIN_FLOP_PER_BATCH)} from which bfloat16 was measured "
                           "faster: its casts would cost more than they save")
    return "mixed_bfloat16", f"{device} computes bfloat16 natively, and the model does {size}"


def flops(n: float) -> str:
    for unit, size in (("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} FLOP"


def native_bfloat16() -> tuple[bool, str]:
    """Whether the devices training runs on compute bfloat16 natively, and what they are in words:
    GPUs of compute capability 8.0 or later (Ampere on), or a CPU with AMX-BF16 or AVX512_BF16
    through oneDNN."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        caps = [tuple(tf.config.experimental.get_device_details(g).get("compute_capability") or (0, 0))
                for g in gpus]
        oldest = min(caps)
        return oldest >= (8, 0), f"the GPU (compute capability {oldest[0]}.{oldest[1]})"
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").lower() in ("0", "false"):
        return False, "the CPU without oneDNN (TF_ENABLE_ONEDNN_OPTS=0)"
    found = [f for f in CPU_FLAGS if f in cpu_flags()]
    return bool(found), f"the CPU, with {' and '.join(found)}," if found else "the CPU (no AMX-BF16 or AVX512_BF16)"


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    try:
        text = cpuinfo.read_text()
    except OSError:  # not Linux: no flags known, so no native bfloat16 is assumed
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _layers(layer: Any) -> Any:
    """Every layer, into nested models (Keras Applications) and wrappers (Bidirectional)."""
    yield layer
    for sub in getattr(layer, "layers", None) or []:
        yield from _layers(sub)
    for attr in ("forward_layer", "layer"):
        inner = getattr(layer, attr, None)
        if inner is not None and inner is not layer and hasattr(inner, "dtype_policy"):
            yield from _layers(inner)
