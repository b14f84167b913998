"""Commands that help start: schema, init, datasets, convert."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from nnctl.choices import Task
from nnctl.cli.app import app, err, out, warn


@app.command()
def schema(
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write it here.")] = None,
    metrics: Annotated[
        bool, typer.Option("--metrics", help="The schema of a run's metrics.json instead.")
    ] = False,
) -> None:
    """The config's JSON Schema for editors (YAML language servers), with Keras' names."""
    from nnctl import api

    found = api.schema(output, metrics=metrics)
    if output is None:
        sys.stdout.write(api.schema_json(found))
    else:
        print(output)


@app.command()
def init(
    file: Annotated[Optional[Path], typer.Argument(help="Write the config here [default: stdout].")] = None,
    task: Annotated[Optional[Task], typer.Option("--task", help="The task [default: the data's].")] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="A built-in name or a path.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """A commented starter config, shaped by its data, that validates and trains as written."""
    from nnctl import api

    made = api.init(file, data=data, task=task.value if task else None, force=force)
    if made.columns:
        err.print("\n".join(made.columns), highlight=False, markup=False)
    if file is None:
        sys.stdout.write(made.text)
        return
    err.print(f"wrote {file}; next: nnctl validate {file} && nnctl train {file}", highlight=False)
    print(file)


@app.command()
def datasets(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON on stdout.")] = False,
) -> None:
    """List the built-in datasets and whether each is available here now."""
    from nnctl import api

    rows = api.datasets()
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(show_header=True, header_style="bold")
    for col in ("name", "available", "from"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["name"], row["available"], row["from"])
    out.print(table)


@app.command()
def convert(
    script: Annotated[Path, typer.Argument(help="A Keras script (.py), read without running it, or a saved .keras "
                                                "model.")],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="The config to write [default: SCRIPT's name .yaml, here].")] = None,
    data: Annotated[Optional[str], typer.Option(
        "--data", metavar="SOURCE", help="The data source, where the script does not load a keras.datasets set.")]
    = None,
) -> None:
    """Write a config from a Keras script or a saved model; what it cannot express is listed with its line."""
    from nnctl import api
    from nnctl.errors import UserError

    target = output or Path(f"{script.stem}.yaml")
    if output is None and target.exists():  # never over a file the user did not name
        raise UserError(f"{target} exists; give -o FILE to write the config elsewhere (or over it)", "-o")
    converted = api.convert(script, data, target)
    warn(converted.warnings)
    print(target)
