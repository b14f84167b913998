"""The one executor under sweeps and searches: points (a `Request` each) taken from a source and
trained by warm worker processes, `parallel` at a time.

A grid sweep and an Optuna search differ only in where their points come from and what they do
with a finished point (`Source`). A warm worker (`python -m nnctl.sweeps.worker`) imports
TensorFlow once and trains request after request with the same code as `nnctl train`; a point
that kills its worker (a crash, the OOM killer) is failed with the signal, and the next point
gets a new worker. Ctrl-C or SIGTERM stops the points gracefully (each saves its epoch and ends
interrupted); a second one kills the workers at once. What both kinds of sweep share is ruled
here once: how a point ended (`outcome`) and the sweep folder's name (`sweep_folder`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nnctl.config import composed
from nnctl.engine import signals
from nnctl.run import folder as runs

STOPPED = (130, -15)  # a point stopped by the sweep's signal (-15: before its training began)


@dataclass
class Request:
    """One point: `nnctl train` of `config` with `overrides` into `runs_dir`, or `--resume`."""

    config: str | dict[str, Any] | None
    overrides: list[str]
    runs_dir: str
    name: str | None = None
    resume: str | None = None
    trial: dict[str, Any] | None = None  # a searching sweep's trial (engine/pruning.py)
    log: str | None = None  # the point's progress and errors

    def dumps(self) -> str:
        """The request as one line of the worker protocol (sweeps/worker.py reads it with `loads`)."""
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, line: str) -> Request:
        return cls(**json.loads(line))


@dataclass
class Reply:
    """A trained (or failed) point: the exit code `nnctl train` would end with, and its result.
    The worker builds it and the executor reads it through `dumps`/`loads`: one definition."""

    code: int
    run_dir: str | None = None
    status: str | None = None
    val: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, line: str) -> Reply:
        return cls(**json.loads(line))


def outcome(code: int, run_dir: str | None) -> tuple[str, dict[str, Any]]:
    """How a point ended, as a sweep and a search both record it: (`completed`, `pruned`,
    `interrupted` or `failed`; its run's metrics.json, {} without one), from the reply's exit code
    and the point's run folder. The folder's status wins: a point that ended as a stop signal caught
    it on its way out still ended. Otherwise 130 (-15: before training began) is the sweep's own
    stop; any other code or signal killed the point (a crash, the OOM killer): failed."""
    meta = (runs.read_json(Path(run_dir) / runs.METRICS) if run_dir else None) or {}
    if meta.get("status") in ("completed", "pruned"):
        return meta["status"], meta
    return ("interrupted" if code in STOPPED else "failed"), meta


class Source(Protocol):
    """Where points come from and where they go back: called from the executor's threads, each
    call under the executor's lock."""

    def take(self) -> tuple[Any, Request] | None: ...  # the next point, or None when there is none
    def done(self, key: Any, reply: Reply, seconds: float) -> None: ...


def threads_per_worker(parallel: int) -> int:
    return max(1, (os.cpu_count() or 1) // parallel)


class ProcessWorker:
    """A warm worker process; started on its first request, again after one died."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.proc: subprocess.Popen | None = None
        self.stopping = False  # the sweep asked it to stop: a point it then loses was interrupted

    def _start(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            # Its own session: a Ctrl-C reaches the points through the sweep, which stops them in order.
            command = [sys.executable, "-m", "nnctl.sweeps.worker", "--threads", str(self.threads)]
            self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                         start_new_session=True)
        return self.proc

    def run(self, request: Request) -> Reply:
        proc = self._start()
        try:
            proc.stdin.write(request.dumps() + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if line:
            return Reply.loads(line)
        code = proc.wait()  # the worker died with the point
        self.proc = None
        if self.stopping:  # stopped while starting or between points: the point never began
            return Reply(130, error="interrupted")
        code = code if code < 0 else -abs(code) or -1
        return Reply(code, run_dir=None, error=f"the worker died while training this point (exit {code})")

    def terminate(self) -> None:
        self.stopping = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # the point saves its epoch and ends with 130; the worker reads on

    def kill(self) -> None:
        self.stopping = True
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def execute(source: Source, parallel: int, worker: Any = None) -> signals.StopRequest:
    """Run the source's points, `parallel` at a time, until it has none or a stop is asked;
    returns the stop request (true when Ctrl-C or SIGTERM stopped the sweep). `worker`: a
    factory of workers (default: warm processes with their share of the cores)."""
    make = worker or (lambda: ProcessWorker(threads_per_worker(parallel)))
    lock = threading.Lock()
    pool: list[Any] = []
    failures: list[BaseException] = []
    with signals.on_signals() as stop:

        def loop() -> None:
            try:
                work()
            except BaseException as e:  # noqa: BLE001  (raised again in the sweep's own thread)
                failures.append(e)

        def work() -> None:
            warm = make()
            with lock:
                pool.append(warm)
            while not stop and not failures:
                with lock:
                    item = source.take()
                if item is None:
                    return
                key, request = item
                began = time.time()
                reply = warm.run(request)
                with lock:
                    source.done(key, reply, time.time() - began)

        threads = [threading.Thread(target=loop, daemon=True) for _ in range(parallel)]
        for t in threads:
            t.start()
        stopped = False
        try:
            while any(t.is_alive() for t in threads):
                if stop and not stopped:
                    stopped = True
                    with lock:
                        for w in pool:
                            w.terminate()
                time.sleep(0.05)
        except KeyboardInterrupt:  # a second Ctrl-C: stop everything now
            for w in list(pool):
                w.kill()
            raise
    for w in pool:
        w.close()
    if failures:
        raise failures[0]
    return stop


def log_path(folder: Path, name: str) -> str:
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    return str(folder / "logs" / f"{name}.log")


def sweep_folder(runs_dir: Path, name: str, kind: str, config: Path, args: dict[str, Any]) -> tuple[Path, str]:
    """A sweep's folder (`NAME-KIND-HASH`) and its hash, of the config as its extends: chain merges it
    and of the sweep's arguments: running the same sweep again finds the same folder, and a changed
    base config is a new sweep."""
    identity = json.dumps({"config": composed(config)[0], **args}, sort_keys=True, default=str)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
    return runs_dir.resolve() / f"{name}-{kind}-{digest}", digest
