"""`nnctl serve`: a finished run as an HTTP prediction service (nnctl/server)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnctl.cli.app import app, err


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
