"""tf.distribute for training: the strategy a config asks for, the cluster it runs on, who writes.

- none: TensorFlow's default strategy, one device.
- mirrored: MirroredStrategy, synchronous data parallelism over local devices.
- multi_worker: MultiWorkerMirroredStrategy; the cluster comes from TF_CONFIG or from a
  Slurm allocation through TensorFlow's SlurmClusterResolver.

`batch_size` is the global batch: each step splits it over all replicas of all workers,
and the gradients are averaged, so one step equals one single-device step on the same batch.
The learning rate is left as the config says.

Strategies must exist before TensorFlow's first op (collective ops and logical devices
are fixed when its runtime starts), so `setup` runs before anything else touches TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

from nnctl.backend import keras, quiet
from nnctl.config import Distribution
from nnctl.errors import UserError

KEY = "distribution"


@dataclass
class Setup:
    """The strategy in use and this process's place in the cluster."""

    kind: str = "none"
    strategy: Any = None  # None: TensorFlow's default strategy
    chief: bool = True  # only the chief writes the run folder
    worker: int = 0
    workers: int = 1
    replicas: int = 1
    devices: tuple[str, ...] = ()
    cluster: dict[str, list[str]] | None = None  # multi_worker: every task's address
    setup_s: float = 0.0  # creating the strategy (multi_worker: until every worker had joined)

    def scope(self) -> Any:
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def info(self, batch_size: int) -> dict[str, Any]:
        """What metrics.json records: the strategy and how the global batch is split."""
        return {"strategy": self.kind, "chief": self.chief, "worker": self.worker, "cluster": self.cluster,
                "workers": self.workers, "replicas": self.replicas,
                "devices": list(self.devices), "setup_s": round(self.setup_s, 3), "global_batch_size": batch_size,
                "per_replica_batch_size": batch_size / self.replicas}

    def agree(self, text: str) -> str:
        """The chief's `text` on every worker (e.g. the run folder it created), through a collective."""
        if self.workers == 1:
            return text
        import numpy as np
        import tensorflow as tf

        raw = np.zeros(4096, "int32")
        if self.chief:
            data = text.encode()[:4096]
            raw[:len(data)] = np.frombuffer(data, "uint8")
        total = _all_reduce_sum(self.strategy, tf.constant(raw))
        return bytes(int(b) for b in total if b).decode()


def setup(spec: Distribution, join: bool = True) -> Setup:
    """Create the strategy the config asks for (quietly), before TensorFlow's first op.

    join=False (validate, summary) checks the settings without creating a strategy or
    joining a cluster, and builds on one device.
    """
    if spec.strategy == "none" or not join:
        keras()
        if spec.strategy == "multi_worker":
            import tensorflow as tf

            _cluster(tf, spec)
        return Setup()
    keras(start=False)
    import tensorflow as tf

    if spec.strategy == "mirrored":
        return _mirrored(tf, spec)
    return _multi_worker(tf, spec)


def _mirrored(tf: Any, spec: Distribution) -> Setup:
    devices = spec.devices
    began = time.perf_counter()
    try:
        with quiet():  # finding devices makes CUDA print, even without a GPU
            if devices:
                _split_cpu(tf, [_short(d) for d in devices])
                present = sorted(_short(d.name) for d in tf.config.list_logical_devices())
                missing = [d for d in devices if _short(d) not in present]
                if missing:
                    raise UserError(f"no device {', '.join(missing)} here; this machine has {', '.join(present)}",
                                    f"{KEY}.devices")
            strategy = tf.distribute.MirroredStrategy(devices=devices)
    except (ValueError, RuntimeError) as e:
        raise UserError(f"cannot mirror over {devices}: {str(e).splitlines()[0]}", f"{KEY}.devices") from None
    names = tuple(strategy.extended.worker_devices)
    return Setup("mirrored", strategy, replicas=strategy.num_replicas_in_sync, devices=names,
                 setup_s=time.perf_counter() - began)


def _short(name: str) -> str:
    """"/job:localhost/replica:0/task:0/device:CPU:1", "/device:cpu:1" or "cpu:1" -> "CPU:1"."""
    return name.upper().split("DEVICE:")[-1].lstrip("/")


def _split_cpu(tf: Any, devices: list[str]) -> None:
    """Naming CPU:1 on a one-CPU machine splits the CPU into logical devices (to try mirrored anywhere)."""
    wanted = [int(d.split(":")[1]) for d in devices if d.startswith("CPU:")]
    cpus = tf.config.list_physical_devices("CPU")
    if wanted and max(wanted) >= len(cpus):
        try:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(max(wanted) + 1)])
        except RuntimeError:  # the runtime started already (nnctl called in-process twice)
            raise UserError("logical CPU devices must be set up before TensorFlow starts: run nnctl "
                            "in a fresh process", f"{KEY}.devices") from None


def _multi_worker(tf: Any, spec: Distribution) -> Setup:
    from nnctl.engine import multi_worker_fit_patch

    resolver, cluster, me = _cluster(tf, spec)
    _report({"peers": {f"{kind} {i}": addr for kind, addrs in cluster.items() for i, addr in enumerate(addrs)},
             "me": me})
    began = time.perf_counter()
    with quiet():
        strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
        multi_worker_fit_patch.apply()
        # The first collective: returns once every worker is there.
        workers = int(_all_reduce_sum(strategy, tf.constant([1], tf.int32))[0])
    _report("joined")
    return Setup("multi_worker", strategy, chief=bool(strategy.extended.should_checkpoint),
                 worker=int(resolver.task_id or 0), workers=workers, replicas=strategy.num_replicas_in_sync,
                 devices=tuple(strategy.extended.worker_devices), cluster=cluster,
                 setup_s=time.perf_counter() - began)


def _cluster(tf: Any, spec: Distribution) -> tuple[Any, dict[str, list[str]], str]:
    """The cluster resolver, the cluster ({task type: addresses}), and this task's name."""
    source = spec.cluster
    if source == "auto":
        source = "tf_config" if os.environ.get("TF_CONFIG") else "slurm" if os.environ.get("SLURM_JOB_ID") else ""
    if not source:
        raise UserError("multi_worker needs a cluster: set TF_CONFIG, or run inside a Slurm allocation (srun)",
                        f"{KEY}.cluster")
    resolvers = tf.distribute.cluster_resolver
    if source == "tf_config":
        try:
            config = json.loads(os.environ.get("TF_CONFIG") or "")
            task = config["task"]
            cluster = config["cluster"]
            me = f"{task['type']} {int(task['index'])}"
        except (ValueError, KeyError, TypeError):
            raise UserError('TF_CONFIG must be JSON like {"cluster": {"worker": ["host:port", ...]}, '
                            '"task": {"type": "worker", "index": 0}}', f"{KEY}.cluster") from None
        resolver = resolvers.TFConfigClusterResolver()
    else:
        try:
            resolver = _slurm_resolver(tf, spec.slurm_port_base)
            cluster = resolver.cluster_spec().as_dict()
        except (KeyError, RuntimeError, OSError, ValueError) as e:
            raise UserError(f"not inside a usable Slurm allocation ({str(e).splitlines()[0]})",
                            f"{KEY}.cluster") from None
        me = f"{resolver.task_type} {resolver.task_id}"
    cluster = {kind: _listed(addrs) for kind, addrs in cluster.items()}
    names = [f"{kind} {i}" for kind, addrs in cluster.items() for i in range(len(addrs))]
    if me not in names:
        raise UserError(f"this task ({me}) is not in the cluster ({', '.join(names)})", f"{KEY}.cluster")
    return resolver, cluster, me


def _slurm_resolver(tf: Any, port_base: int) -> Any:
    """TensorFlow's SlurmClusterResolver, also on nodes without GPUs.

    Left to itself it counts GPUs with nvidia-smi, and with none it divides by zero while
    sharing them out. So it gets a nominal GPU per task (auto_set_gpu=False: nothing is
    assigned) and, on a CPU-only node, reports the true count of 0 to the strategy.
    """
    with quiet():
        gpus = len(tf.config.list_physical_devices("GPU"))
    if gpus:
        return tf.distribute.cluster_resolver.SlurmClusterResolver(port_base=port_base, auto_set_gpu=False,
                                                                   gpus_per_node=gpus)
    resolver = tf.distribute.cluster_resolver.SlurmClusterResolver(port_base=port_base, auto_set_gpu=False,
                                                                   gpus_per_node=1024, gpus_per_task=1)
    resolver.num_accelerators = lambda *args, **kwargs: {"GPU": 0}
    return resolver


def _listed(addrs: Any) -> list[str]:
    return [addrs[k] for k in sorted(addrs)] if isinstance(addrs, dict) else list(addrs)


def _all_reduce_sum(strategy: Any, value: Any) -> Any:
    """Sum a tensor over all replicas of all workers (every worker must call it)."""
    import tensorflow as tf

    def step() -> Any:
        return tf.distribute.get_replica_context().all_reduce("sum", value)

    return strategy.experimental_local_results(strategy.run(step))[0].numpy()


def lost_peers(dist: Setup) -> list[str]:
    """The other tasks of this run's cluster that no longer listen: what a failed collective lost
    ("worker 1 (127.0.0.1:41234)"); empty for a run on one machine."""
    if dist.workers <= 1 or not dist.cluster:
        return []
    return [f"{kind} {i} ({addr})" for kind, addrs in dist.cluster.items() for i, addr in enumerate(addrs)
            if not (kind == "worker" and i == dist.worker) and not _listening(addr)]


# ---------------------------------------------------------------- the join timeout
#
# A worker waiting for its peers is blocked inside TensorFlow's C++ with the GIL held and
# SIGTERM caught: no thread of its own can end it. So `nnctl train` forks before TensorFlow
# loads; the parent (no TensorFlow) supervises the child that trains. The child reports its
# cluster, then "joined" after the first collective; if that takes longer than
# join_timeout_s, the parent kills the child, names the peers that never arrived, exits 2.

_REPORT: list[int] = []  # the child's end of the pipe to the supervising parent


def supervise(spec: Distribution) -> None:
    """Fork; return in the child (which trains). The parent supervises and never returns."""
    import signal

    from nnctl import backend

    if backend.runtime_started():  # the warm server's fork has imported TensorFlow but started nothing
        raise UserError("multi_worker must start in a fresh process (TensorFlow is loaded already)", KEY)
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _REPORT.append(write_end)
        from nnctl.engine.signals import die_with_parent

        # The `nnctl` a user sees (and may kill -9) is the parent: the training child never outlives it.
        # SIGKILL: a child blocked in a collective ignores gentler signals; its checkpoints stay resumable.
        die_with_parent(signal.SIGKILL)
        return
    os.close(write_end)
    joined = [False]

    def on_signal(signum: int, frame: Any) -> None:
        if joined[0]:  # the child stops itself; Ctrl-C reaches it from the terminal directly
            if signum == signal.SIGTERM:
                os.kill(pid, signal.SIGTERM)
            return
        _end(pid, "interrupted while waiting for the other workers to join", 130)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    peers, me = _wait_for_line(read_end, None)
    if peers is not None:
        joined[0] = _wait_for_line(read_end, spec.join_timeout_s)[0] == "joined"
        if not joined[0]:
            ended, status = os.waitpid(pid, os.WNOHANG)
            if ended:  # it stopped on its own (an error) before joining
                os._exit(_exit_code(status))
            missing = [f"{name} ({addr})" for name, addr in peers.items() if name != me and not _listening(addr)]
            others = ", ".join(missing) or "some of " + ", ".join(n for n in peers if n != me)
            _end(pid, f"{KEY}.join_timeout_s: after {spec.join_timeout_s:g} s the cluster was still incomplete; "
                      f"did not join: {others}", 2)
    os._exit(_exit_code(os.waitpid(pid, 0)[1]))  # waitpid is retried after signals (PEP 475)


def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _end(pid: int, message: str, code: int) -> None:
    """Kill the child (it ignores gentler signals while joining), say why in one line, exit."""
    import signal

    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.write(2, f"error: {message}\n".encode())
    os._exit(code)


def _report(message: Any) -> None:
    if _REPORT:
        os.write(_REPORT[0], (json.dumps(message) + "\n").encode())


def _wait_for_line(fd: int, timeout: float | None) -> tuple[Any, Any]:
    """The child's next report: (peers, me), ("joined", None), or (None, None) on timeout or exit."""
    import select

    deadline = None if timeout is None else time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            ready, _, _ = select.select([fd], [], [], left)
        except InterruptedError:
            continue
        if not ready:
            return None, None
        chunk = os.read(fd, 4096)
        if not chunk:
            return None, None
        buf += chunk
    message = json.loads(buf.split(b"\n", 1)[0])
    return (message, None) if message == "joined" else (message["peers"], message["me"])


def _listening(addr: str) -> bool:
    host, _, port = addr.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False
