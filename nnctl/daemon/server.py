"""The warm server: `python -m nnctl.daemon.server SOCKET`, started by the first `nnctl` that finds none.

It imports TensorFlow, Keras, scikit-learn, pandas, matplotlib and every nnctl command once, without
starting TensorFlow's runtime (no op runs, so no thread pool exists yet), then forks a child per
command. The child takes the caller's stdin, stdout and stderr (passed over the socket), working
folder, environment and arguments, runs the CLI exactly as `nnctl` would in a new process, and sends
back the exit code. A fork is a fresh process: nothing one command does reaches the next.

The server stops after NNCTL_DAEMON_IDLE seconds without a command (default 900), when its memory
passes NNCTL_DAEMON_MAX_MB, when asked (`nnctl daemon stop`, or a caller with newer code), or when its
socket is no longer its own. Commands already running go on: they are their own processes.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from nnctl.daemon_control import receive, send

IDLE = float(os.environ.get("NNCTL_DAEMON_IDLE") or 900)
MAX_MB = float(os.environ.get("NNCTL_DAEMON_MAX_MB") or 4096)


UNLOADED = ("nnctl.daemon", "nnctl.layers", "nnctl.model.layers")


def preload() -> None:
    """What commands import, imported once here; children inherit it already imported. Every nnctl
    module but entry points and the two that register nnctl's Keras classes (a command must load
    them itself, as in a new process), and the libraries they import inside functions."""
    from nnctl import backend

    with backend.preloading():
        _imports()
    _plots()


def _imports() -> None:
    import importlib
    import pkgutil

    import nnctl

    for name in ("matplotlib.backends.backend_agg", "matplotlib.figure", "pandas", "sklearn.metrics",
                 "sklearn.model_selection", "sklearn.datasets", "sklearn.utils.class_weight", "scipy.stats",
                 "jinja2", "PIL.Image", "PIL.PngImagePlugin", "tensorboard.summary", "tensorboard.plugins.hparams.api"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    for module in pkgutil.walk_packages(nnctl.__path__, "nnctl."):
        if not module.name.endswith("__main__") and not module.name.startswith(UNLOADED):
            with contextlib.suppress(ImportError):
                importlib.import_module(module.name)


def _plots() -> None:
    """Draw each kind of run plot once, off screen: matplotlib reads its fonts and fills its text and
    glyph caches here, which every command's fork then finds filled (0.2 s less a training); and
    compile the report's template (0.9 s less a report)."""
    import io as _io

    import numpy as np

    from nnctl.report import page
    from nnctl.run import plots

    history = [{"loss": 1.0 / (i + 1), "accuracy": i / 4, "val_loss": 1.1 / (i + 1), "val_accuracy": i / 5}
               for i in range(4)]
    plots.learning_curves(history, 3, _io.BytesIO())
    true, probs = np.arange(12) % 3, np.full((12, 3), 1 / 3)
    bins = np.linspace(0.05, 0.95, 10)
    plots.classifier_curves(true, probs, ["a", "b", "c"], [0, 1, 2], None, (bins, bins, np.ones(10)), False,
                            _io.BytesIO())
    plots.confusion_matrix(np.eye(3) * 4, ["a", "b", "c"], _io.BytesIO())
    plots.predictions(np.arange(12.0)[:, None], np.arange(12.0)[:, None], ["y"], _io.BytesIO())
    env = page.environment()
    for name in env.list_templates():
        env.get_template(name)


def serve(path: Path) -> None:
    preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    listener.bind(str(staging))
    os.chmod(staging, 0o600)
    listener.listen(64)
    os.replace(staging, path)  # callers connect only once it is ready
    own = os.stat(path).st_ino
    started = last = time.time()
    children: dict[int, socket.socket] = {}  # each command's process, and the caller's connection
    served = 0
    while True:
        ready, _, _ = select.select([listener], [], [], 0.2 if children else 1.0)
        _reap(children)
        if ready:
            conn, _ = listener.accept()
            last = time.time()
            op = _answer(conn, listener, started, children, served)
            served += op == "run"
            if op == "stop":
                break
        elif time.time() - last > IDLE or _rss_mb() > MAX_MB or not _still_own(path, own):
            break
    listener.close()
    if _still_own(path, own):  # a clean end: no socket left behind, and its log said nothing worth keeping
        path.unlink()
        path.with_suffix(".log").unlink(missing_ok=True)


def _answer(conn: socket.socket, listener: socket.socket, started: float, children: dict[int, socket.socket],
            served: int) -> str:
    """One caller's request: a command (forked; the connection kept until its exit code is sent) or a
    control request (answered and closed)."""
    uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
    message, fds = None, []
    if uid == os.getuid():  # the folder's mode already keeps others out; this is the second lock
        conn.settimeout(10)
        with contextlib.suppress(OSError, ValueError):
            message, fds = receive(conn, with_fds=True)
    op = (message or {}).get("op") if uid == os.getuid() else "refused"
    if op == "run" and len(fds) == 3:
        pid = os.fork()
        if pid == 0:
            listener.close()
            for other in children.values():  # a command holds no other caller's connection
                other.close()
            _child(conn, message, fds)  # never returns
        children[pid] = conn
    elif op in ("status", "stop"):
        with contextlib.suppress(OSError):
            send(conn, {"pid": os.getpid(), "started": started, "running": len(children), "served": served,
                        "rss_mb": round(_rss_mb(), 1)})
    for fd in fds:
        os.close(fd)
    if op == "run" and len(fds) == 3:
        return "run"  # the connection stays open: _reap sends the exit code
    conn.close()
    return op or "broken"


def _child(conn: socket.socket, message: dict, fds: list[int]) -> None:
    """Become the caller's command: its descriptors, folder, environment and arguments; then run it."""
    code: int = 1
    try:
        os.setpgid(0, 0)  # its own process group: the caller's Ctrl-C reaches it and what it starts, as a terminal's
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        _streams()
        os.chdir(message["cwd"])
        os.environ.clear()
        os.environ.update(message["env"])
        _fresh_randomness()
        from nnctl.run import folder

        folder.COMMAND_PID = message.get("pid")  # what `ps` shows the user for this command: the caller
        conn.settimeout(None)
        send(conn, {"pid": os.getpid()})
        threading.Thread(target=_watch, args=(conn,), name="nnctl-caller", daemon=True).start()
        from nnctl.cli.app import finish, invoke

        code = invoke(message["argv"])
        finish()
    except BaseException:  # noqa: BLE001  (the caller must get an exit code, whatever happened here)
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            send(conn, {"exit": code})
        os._exit(code)


def _streams() -> None:
    """New sys.std* over descriptors 0-2, buffered as the interpreter buffers them at start-up."""
    encoding = sys.stdout.encoding or "utf-8"
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding=encoding)
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding=encoding,
                                  line_buffering=os.isatty(1))
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding=encoding,
                                  errors="backslashreplace", line_buffering=True)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr


def _fresh_randomness() -> None:
    """A new process draws new unseeded random numbers; a fork would repeat its parent's."""
    import random

    import numpy as np

    random.seed()
    np.random.seed()


def _watch(conn: socket.socket) -> None:
    """The caller's signals, forwarded (SIGINT and SIGQUIT to the process group, as a terminal sends
    them); the caller gone (killed) ends this command as it would have ended with the caller."""
    while True:
        try:
            message, _ = receive(conn)
        except OSError:
            message = None
        if message is None:  # only this process, as `kill -9` of a new nnctl: what it started sees it die
            os.kill(os.getpid(), signal.SIGKILL)
        elif "signal" in message:
            signum = int(message["signal"])
            if signum in (signal.SIGINT, signal.SIGQUIT):
                os.killpg(0, signum)
            else:
                os.kill(os.getpid(), signum)


def _reap(children: dict[int, socket.socket]) -> None:
    """Send each ended command's exit status to its caller: the command sends it too as it ends, but
    not when it ends with os._exit or a signal (kill -9 reads as 137, as a shell shows it)."""
    for pid in list(children):
        try:
            ended, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            ended, status = pid, 1 << 8
        if ended:
            conn = children.pop(pid)
            code = os.waitstatus_to_exitcode(status)
            with contextlib.suppress(OSError):
                send(conn, {"exit": code} if code >= 0 else {"exit": 128 - code, "signal": -code})
            conn.close()


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _still_own(path: Path, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
