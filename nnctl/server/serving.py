"""The socket and the server: bound before uvicorn starts (a port in use is one line, exit 2),
SIGTERM or Ctrl-C stop accepting, finish the requests in flight and end normally (exit 0)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import uvicorn

from nnctl.errors import UserError


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.on_ready()

    def handle_exit(self, sig: int, frame: Any) -> None:
        # Graceful, then normal: uvicorn would raise the signal again once stopped (exit 130 or -15);
        # a server asked to stop that stopped cleanly exits 0. A second signal stops at once.
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}", "--port") from None
    sock.set_inheritable(True)
    return sock


def run(app: Any, sock: socket.socket, on_ready: Callable[[], None]) -> None:
    """Serve until SIGTERM or Ctrl-C; in-flight requests get up to 30 s to finish."""
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=30)
    _Server(config, on_ready).run(sockets=[sock])
