"""`nnctl serve`: a finished run as an HTTP prediction service (nnctl/server); `nnctl daemon`: the warm
server that ordinary commands run in (nnctl/daemon)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnctl.cli.app import JsonOpt, app, err, new_app, out
from nnctl.errors import UserError


@app.command()
def serve(
    run_dir: Annotated[Path, typer.Argument(help="A completed run folder.")],
    host: Annotated[str, typer.Option("--host", help="The address to listen on; 0.0.0.0 for every network.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="The port (0: any free one).")] = 8000,
    max_body_mb: Annotated[float, typer.Option("--max-body-mb", min=0.001, help="The largest request body.")]
    = 10.0,
) -> None:
    """Serve the run's model over HTTP in TensorFlow Serving's REST shape: POST /v1/models/NAME:predict
    with {"instances": [...]}; GET /v1/models/NAME; GET /healthz. SIGTERM or Ctrl-C stops it cleanly."""
    from nnctl import api
    from nnctl.server import app as routes
    from nnctl.server import serving

    run = api.Run(run_dir)
    sock = serving.listen(host, port)  # a port in use fails before the model loads
    predictor = run.predictor()
    predictor.warm_up()
    name = predictor.cfg.name or run.path.name
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}/v1/models/{name}"

    def ready() -> None:
        print(f"serving {run.path} at {url} (POST {url}:predict)", flush=True)
        err.print("stop with Ctrl-C or SIGTERM: requests in flight finish first", highlight=False)

    serving.run(routes.make_app(predictor, name, int(max_body_mb * 2**20)), sock, ready)


daemon_app = new_app("The warm nnctl server that commands run in (started by the first command; "
                     "NNCTL_DAEMON=0 or --no-daemon runs without it).")
app.add_typer(daemon_app, name="daemon")


@daemon_app.command("status")
def daemon_status(as_json: JsonOpt = False) -> None:
    """List this installation's warm servers: pid, age, commands served and running, memory."""
    import json
    import os
    import time

    from nnctl import daemon_control as control

    try:
        current = control.socket_path(os.environ)
        found = control.servers(os.environ)
    except OSError as e:  # a folder others can enter, or a path too long for a socket: no server there
        raise UserError(str(e), "NNCTL_DAEMON_DIR") from None
    if as_json:
        print(json.dumps([{**info, "socket": str(path), "current": path == current} for path, info in found]))
        return
    for path, info in found:
        state = ("current" if path == current else "other environment" if path.name.split("-")[1] ==
                 current.name.split("-")[1] else "stale (other code: replaced on the next command)")
        out.print(f"pid {info['pid']}  up {time.time() - info['started']:.0f} s  served {info['served']}  "
                  f"running {info['running']}  "
                  f"{info['rss_mb']:.0f} MB  {state}  {path}", highlight=False)
    if not found:
        err.print("no warm server is running; the next command starts one"
                  + (" (off here: NNCTL_DAEMON=0)" if control.disabled(os.environ) else ""), highlight=False)


@daemon_app.command("stop")
def daemon_stop() -> None:
    """Stop this installation's warm servers; commands they are running go on to their end."""
    import os

    from nnctl import daemon_control as control

    try:
        stopped = control.stop(os.environ)
    except OSError as e:
        raise UserError(str(e), "NNCTL_DAEMON_DIR") from None
    err.print(f"stopped {len(stopped)} warm server(s)" + (f": pid {', '.join(map(str, stopped))}" if stopped
                                                          else ""), highlight=False)
