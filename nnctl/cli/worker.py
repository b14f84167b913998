"""`python -m nnctl.cli.worker`: a warm sweep worker. It imports TensorFlow once and runs one
`nnctl train ...` after another, each exactly as the `nnctl` command would (the same CLI, in this
process), with Keras' state cleared in between, so a point costs its training and not a start-up.

Protocol (commands/workers.py is the other end): one JSON line per point on stdin,
{"args": [...], "env": {...}, "log": PATH}; one JSON line back on the descriptor that was stdout,
{"code": N, "stdout": "..."}. Each point's stderr (and TensorFlow's, on descriptor 2) goes to its log.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys


def main() -> None:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # stray writes to descriptor 1 must not corrupt the protocol
    from nnctl.backend import keras
    from nnctl.cli import app  # the package: every command registered

    k = keras()
    for line in sys.stdin:
        request = json.loads(line)
        out, code = io.StringIO(), 0
        saved_env = {name: os.environ.get(name) for name in request.get("env", {})}
        os.environ.update(request.get("env", {}))
        k.backend.clear_session()  # a clean Keras state per point: names, graphs, the dtype policy
        with open(request["log"], "a") as log:
            saved_err = os.dup(2)
            os.dup2(log.fileno(), 2)
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(log):
                    app(request["args"], prog_name="nnctl", standalone_mode=True)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException as e:  # noqa: BLE001  (reported to the sweep as the point's failure)
                print(f"error: worker: {type(e).__name__}: {e}", file=log)
                code = 1
            finally:
                sys.stderr.flush()
                os.dup2(saved_err, 2)
                os.close(saved_err)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        proto.write(json.dumps({"code": code, "stdout": out.getvalue()}) + "\n")


if __name__ == "__main__":
    main()
