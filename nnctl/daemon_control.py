"""Where the warm server listens, whether it is current, and how a caller reaches, starts or stops it.

Imports only the standard library: the `nnctl` entry point runs this before it knows whether it
will import anything else.

One server per Python environment, code version and import-time environment: the socket's name
carries the *lineage* (the interpreter and the nnctl package folder), the *code* (nnctl's files and
the installed packages' folders) and a hash of the environment variables read at import. A caller
that finds no server for its name starts one and stops those of its lineage with other code: a
server that imported older code is replaced, never used.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import nnctl
from nnctl.version import __version__

PACKAGE = Path(nnctl.__file__).parent
# Read once at import by TensorFlow, Keras, matplotlib or the interpreter: a server imported under
# other values would behave differently, so they are part of the socket's name.
IMPORT_ENV = ("TF_", "KERAS_", "CUDA_", "XLA_", "OMP_", "MKL_", "OPENBLAS_", "PYTHON", "LD_", "MPL", "HOME")
RUNTIME_ENV = {"TF_CONFIG"}  # read when a command runs (each worker's own): no server per value
START_TIMEOUT = 180.0  # seconds for a new server to import everything on a busy machine
HEADER = struct.Struct("!Q")


def disabled(env: Mapping[str, str]) -> bool:
    return env.get("NNCTL_DAEMON", "").strip().lower() in ("0", "off", "false", "no")


def folder(env: Mapping[str, str]) -> Path:
    """This user's socket folder (mode 0700), made on first use; refused if anyone else could enter it."""
    base = env.get("NNCTL_DAEMON_DIR") or (
        f"{env['XDG_RUNTIME_DIR']}/nnctl" if env.get("XDG_RUNTIME_DIR") else f"/tmp/nnctl-{os.getuid()}")
    path = Path(base)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise PermissionError(f"{path} is not this user's alone (owner {info.st_uid}, mode {oct(info.st_mode)})")
    return path


def lineage() -> str:
    return hashlib.sha256(f"{sys.executable}\0{PACKAGE}".encode()).hexdigest()[:10]


def code() -> str:
    """What the server imported: nnctl's files and the installed packages (a folder's mtime changes when
    a package in it is installed, upgraded or removed)."""
    h = hashlib.sha256(f"{__version__}\0{sys.version}".encode())
    for root, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                info = os.stat(os.path.join(root, name))
                h.update(f"{root}/{name}\0{info.st_mtime_ns}\0{info.st_size}\n".encode())
    for entry in sys.path:
        with contextlib.suppress(OSError):
            h.update(f"{entry}\0{os.stat(entry or '.').st_mtime_ns}\n".encode())
    return h.hexdigest()[:12]


def imported_env(env: Mapping[str, str]) -> str:
    """The environment variables that took effect at the server's import."""
    h = hashlib.sha256()
    for key in sorted(k for k in env if k.startswith(IMPORT_ENV) and k not in RUNTIME_ENV):
        h.update(f"{key}={env[key]}\n".encode())
    return h.hexdigest()[:8]


def socket_path(env: Mapping[str, str]) -> Path:
    """lineage-code-environment.sock: servers under other environments live beside this one; one that
    imported other code is stale."""
    path = folder(env) / f"{lineage()}-{code()}-{imported_env(env)}.sock"
    if len(os.fsencode(path)) >= 104:  # sun_path's limit (108 on Linux, 104 on macOS): no server there
        raise OSError(f"socket path too long for a UNIX socket: {path}")
    return path


def send(sock: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    """One message: its length (with the file descriptors, if any) then its JSON."""
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [HEADER.pack(len(data))], fds)
    else:
        sock.sendall(HEADER.pack(len(data)))
    sock.sendall(data)


def receive(sock: socket.socket, with_fds: bool = False) -> tuple[dict | None, list[int]]:
    """The next message and the descriptors that came with it; (None, []) at the end of the stream."""
    if with_fds:
        head, fds, _, _ = socket.recv_fds(sock, HEADER.size, 8)
    else:
        head, fds = sock.recv(HEADER.size), []
    head += _exactly(sock, HEADER.size - len(head)) if head else b""
    if len(head) < HEADER.size:
        return None, fds
    data = _exactly(sock, HEADER.unpack(head)[0])
    return json.loads(data), fds


def _exactly(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


def ask(path: Path, op: str) -> dict | None:
    """A control request (status, stop) to the server at `path`; None where none answers."""
    sock = connect(path)
    if sock is None:
        return None
    with sock:
        sock.settimeout(10)
        try:
            send(sock, {"op": op})
            return receive(sock)[0]
        except OSError:
            return None


def servers(env: Mapping[str, str]) -> list[tuple[Path, dict]]:
    """This lineage's servers that answer, with their status."""
    found = []
    for path in sorted(folder(env).glob(f"{lineage()}-*.sock")):
        reply = ask(path, "status")
        if reply is not None:
            found.append((path, reply))
    return found


def stop(env: Mapping[str, str], stale_only: bool = False) -> list[int]:
    """Stop this lineage's servers (stale_only: those that imported other code); their pids.
    Commands they are running go on: each is its own process."""
    current = code()
    stopped = []
    for path in sorted(folder(env).glob(f"{lineage()}-*.sock")):
        if stale_only and path.name.split("-")[1] == current:
            continue
        reply = ask(path, "stop")
        if reply is not None:
            stopped.append(reply["pid"])
        for leftover in (path, path.with_suffix(".log")):  # a killed server leaves its socket
            with contextlib.suppress(OSError):
                leftover.unlink()
    return stopped


def reach(env: Mapping[str, str]) -> socket.socket | None:
    """A connection to the current server, starting one (and stopping stale ones) when there is none.

    None when it cannot start: the caller then runs the command itself, as with NNCTL_DAEMON=0.
    """
    path = socket_path(env)
    sock = connect(path)
    if sock is not None:
        return sock
    with _locked(path.parent / f"{lineage()}.lock"):  # one caller starts it; the others wait and connect
        sock = connect(path)
        if sock is not None:
            return sock
        stop(env, stale_only=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        log = open(path.with_suffix(".log"), "ab")  # noqa: SIM115  (the server's own stderr, for its failures)
        with log:
            server = subprocess.Popen([sys.executable, "-m", "nnctl.daemon.server", str(path)], cwd="/",
                                      env=dict(env), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                      start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and server.poll() is None:
            sock = connect(path)
            if sock is not None:
                return sock
            time.sleep(0.05)
        return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
