"""The Python API on configs, without training, re-exported by `nnctl.api`: the resolved config
(`nnctl.config_show`), a starter config (`nnctl.init`), a config from a Keras script
(`nnctl.convert`), the JSON Schema (`nnctl.schema`) and the built-in datasets (`nnctl.datasets`).

    shown = nnctl.config_show("configs/mnist.yaml", {"epochs": 3})
    shown.config, shown.origins["epochs"]          # {...}, "--set epochs"
    nnctl.init("my.yaml", data="cars.csv").columns  # the table's columns, as init read them

Nothing here prints; what writes a file takes `output` and writes it atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnctl.config import Overrides, composed, dump_yaml, flatten, override_pairs
from nnctl.errors import UserError
from nnctl.run.folder import write_atomic

if TYPE_CHECKING:
    from nnctl.commands.convert import Converted
    from nnctl.training.entry import ConfigSource


@dataclass
class ResolvedConfig:
    """A config as a run trains it: every default filled in, overrides applied (a run's config.yaml)."""

    config: dict[str, Any]
    warnings: list[str]  # the Keras 2 spellings translated, each with its Keras 3 form
    origins: dict[str, str]  # each flattened key: the file that wrote it (extends:), `--set KEY`, or `default`

    def yaml(self) -> str:
        """The config as YAML, the way config.yaml holds it."""
        return dump_yaml(self.config)

    def flat(self) -> dict[str, Any]:
        """Dotted keys to values, in `--set` spelling (`optimizer.learning_rate`, `layers.0.Dense.units`)."""
        return flatten(self.config)


def config_show(config: ConfigSource, overrides: Overrides = None, *, infer: bool = False) -> ResolvedConfig:
    """The resolved config and where each key came from; `infer` also loads the data to fill in the
    task, loss, metrics and input shape."""
    from nnctl.training.entry import load

    cfg, config_dir = load(config, overrides)
    if infer:
        from nnctl.engine.prepare import prepare

        resolved = prepare(cfg, config_dir).resolved()
    else:
        resolved = cfg.model_dump(mode="json")
    written = {str(k): "given" for k in config} if isinstance(config, Mapping) else composed(Path(config))[1]
    sets = [k for k, _ in override_pairs(overrides)]
    origins = {key: next((f"--set {s}" for s in sets if key == s or key.startswith(s + ".")), None)
               or written.get(key) or next((f for k, f in written.items() if key.startswith(k + ".")), "default")
               for key in flatten(resolved)}
    return ResolvedConfig(resolved, list(cfg.translations), origins)


@dataclass
class Starter:
    """What `init` made: the commented config, and a table source's columns as it read them."""

    text: str
    columns: list[str]  # a table's columns, one line each (the last one the target); empty for other sources
    path: Path | None = None  # where it was written


def init(output: str | os.PathLike | None = None, *, data: str | None = None, task: str | None = None,
         force: bool = False) -> Starter:
    """A commented starter config for `data` (a built-in name or a path [a bundled set for the task])
    that validates and trains as written; written to `output`, which must not exist unless `force`."""
    target = Path(output) if output is not None else None
    if target is not None and target.exists() and not force:
        raise UserError(f"{target} exists; use --force to overwrite it")
    from nnctl.commands.init import starter
    from nnctl.data.frames import is_table

    text = starter(task, data, Path.cwd())
    columns: list[str] = []
    if data is not None and is_table(Path(data)):
        from nnctl.data.paths import resolve_path
        from nnctl.data.tables import describe

        columns = describe(resolve_path(data, "--data", Path.cwd()))
    if target is not None:
        write_atomic(target, text)
    return Starter(text, columns, target)


def convert(script: str | os.PathLike, data: str | None = None, output: str | os.PathLike | None = None) -> Converted:
    """A config from a Keras script (.py, read, never run) or a saved .keras model; what it cannot
    express is in `.warnings`, `.yaml()` is the file; written to `output` when given."""
    from nnctl.commands.convert import convert as core

    converted = core(Path(script), data)
    if output is not None:
        write_atomic(Path(output), converted.yaml())
    return converted


def schema(output: str | os.PathLike | None = None, *, metrics: bool = False) -> dict[str, Any]:
    """The config's JSON Schema for editors, with this Keras' names (`metrics`: metrics.json's schema
    instead); also written to `output` as JSON when given."""
    if metrics:
        from nnctl.run.record import Record

        found = Record.model_json_schema()
    else:
        from nnctl.commands.schema import json_schema

        found = json_schema()
    if output is not None:
        write_atomic(Path(output), schema_json(found))
    return found


def schema_json(found: dict[str, Any]) -> str:
    """A schema as the file `schema` writes: indented JSON, one newline at the end."""
    return json.dumps(found, indent=2) + "\n"


def datasets() -> list[dict[str, str]]:
    """The built-in datasets, each with `name`, `available` (here, now) and `from` (where it would load)."""
    from nnctl.data.builtin import availability

    return availability()
