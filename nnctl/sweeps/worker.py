"""`python -m nnctl.sweeps.worker --threads N`: a warm sweep worker. It imports TensorFlow once
and trains one point after another with `train_config` (what `nnctl train` runs), Keras' state
cleared in between, so a point costs its training and not a start-up.

Protocol (sweeps/executor.py is the other end): one JSON `Request` per line on stdin, one JSON
`Reply` per line back on the descriptor that was stdout. A point's progress, warnings and error go
to its log, with whatever TensorFlow writes to descriptor 2 meanwhile.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from nnctl.sweeps.executor import Reply, Request


class LogReporter:
    """A point's progress as `nnctl train` prints it on a pipe: one line per epoch, notes as they come."""

    def __init__(self, log: TextIO) -> None:
        self.log, self.epochs = log, 0

    def start(self, epochs: int, steps: int) -> None:
        self.epochs = epochs

    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None:
        pass

    def epoch(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        from nnctl.run.text import epoch_line

        self.note(epoch_line(epoch, self.epochs, logs, seconds))

    def note(self, message: str) -> None:
        print(message, file=self.log, flush=True)

    def end(self) -> None:
        pass


def train_point(request: Request, log: TextIO) -> Reply:
    """One point, trained in this process: the reply (exit code and result) `nnctl train` would give."""
    from nnctl.errors import NnctlError, one_line
    from nnctl.training.entry import train_config

    try:
        path, result = train_config(request.config, request.overrides, Path(request.runs_dir), request.name,
                                    Path(request.resume) if request.resume else None, reporter=LogReporter(log),
                                    trial=request.trial)
    except NnctlError as e:
        print(f"error: {e}", file=log)
        run = getattr(e, "run", None)
        return Reply(e.exit_code, str(run) if run else None, getattr(e, "status", None), error=str(e))
    except KeyboardInterrupt:
        return Reply(130, error="interrupted")
    except Exception as e:  # noqa: BLE001  (a bug: the point fails, the worker goes on)
        message = f"internal error ({type(e).__name__}: {one_line(e)})"
        print(f"error: {message}", file=log)
        return Reply(1, error=message)
    return Reply(0, str(path), result.get("status"), result.get("val") or {}, result.get("test") or {})


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(prog="nnctl.sweeps.worker")
    args.add_argument("--threads", type=int, default=0)
    threads = args.parse_args(argv).threads
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # stray writes to descriptor 1 must not corrupt the protocol
    # SIGTERM from the sweep stops the point as Ctrl-C does (it saves its epoch and ends interrupted);
    # so does the sweep's death, however it died: a worker never outlives its sweep.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    from nnctl.engine.signals import die_with_parent

    die_with_parent(signal.SIGTERM)
    import warnings

    warnings.simplefilter("ignore")  # Keras' Python warnings speak of its internals
    if threads > 0:  # this worker's share of the cores, read when TensorFlow starts (backend._threads)
        os.environ["NNCTL_THREADS"] = str(threads)
    try:
        from nnctl.backend import keras

        serve(keras(), proto)
    except KeyboardInterrupt:  # the sweep's stop reached a starting or idle worker: nothing to save
        pass
    except (BrokenPipeError, ValueError, OSError):  # the sweep is gone: no one to answer; no traceback
        os._exit(130)


def serve(k: Any, proto: TextIO) -> None:
    for line in sys.stdin:
        request = Request.loads(line)
        k.backend.clear_session()  # a clean Keras state per point: names, graphs, the dtype policy
        with open(request.log or os.devnull, "a") as log:
            saved_err = os.dup(2)
            os.dup2(log.fileno(), 2)
            try:
                reply = train_point(request, log)
            finally:
                sys.stderr.flush()
                os.dup2(saved_err, 2)
                os.close(saved_err)
        proto.write(reply.dumps() + "\n")


if __name__ == "__main__":
    main()
