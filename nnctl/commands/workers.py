"""Warm workers for sweeps: processes that import TensorFlow once and train point after point
(`nnctl.cli.worker`). A point that kills its worker (a crash, the OOM killer) is reported as
failed with the signal, and the next point gets a new worker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


class Worker:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            # Its own session: a Ctrl-C reaches the points through the sweep, which stops them in order.
            self.proc = subprocess.Popen([sys.executable, "-m", "nnctl.cli.worker"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, env=self.env, start_new_session=True)
        return self.proc

    def run(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
        """(exit code, stdout) of `nnctl ARGS` in the worker; a dead worker gives its negative signal."""
        proc = self._start()
        try:
            proc.stdin.write(json.dumps({"args": args, "env": env or {}, "log": str(log)}) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:  # the worker died with the point
            code = proc.wait()
            with open(log, "a") as f:
                f.write(f"error: the worker died while training this point (exit {code})\n")
            self.proc = None
            return (code if code < 0 else -abs(code) or -1), ""
        reply = json.loads(line)
        return int(reply["code"]), reply["stdout"]

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # the point saves its epoch and ends with 130; the worker reads on

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
