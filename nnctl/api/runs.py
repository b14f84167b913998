"""The Python API on folders of runs, re-exported by `nnctl.api`: the leaderboard (`nnctl.runs`,
what `nnctl runs` and a sweep's end show), learning curves compared (`nnctl.plot`), and a sweep's
`--grid` items read (`nnctl.parse_grid`).

    board = nnctl.runs("runs", sort="accuracy")   # best first by val.accuracy
    board.records()                                # what `nnctl runs --json` prints
    nnctl.plot(["runs/a", "runs/b"], "curves.png")

Nothing here prints; the CLI formats the tables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnctl.errors import UserError
from nnctl.run import folder as run_folder
from nnctl.run import leaderboard


@dataclass
class Leaderboard:
    """Runs as rows, oldest first or best first where sorted: status, timing, config, val and test metrics."""

    rows: list[dict[str, Any]]  # nnctl.run.leaderboard's rows (a flattened `config`, `val.*`, `test.*`, `path`)

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """Columns and cells: fixed columns, the config values that differ, then val and test metrics."""
        return leaderboard.table(self.rows)

    def records(self) -> list[dict[str, Any]]:
        """One mapping per row: the table's columns and the run's path (what `--json` prints)."""
        return leaderboard.as_records(self.rows)

    def csv(self) -> str:
        """The table as CSV (what `nnctl runs --csv` prints)."""
        return leaderboard.as_csv(self.rows)


def runs(folder: str | os.PathLike | None = None, *, sort: str | None = None,
         filters: list[str] | None = None) -> Leaderboard:
    """The runs under `folder` [runs, or $NNCTL_RUNS_DIR], sweeps' included; `sort`: best first by a
    validation metric (accuracy is val.accuracy; test.METRIC by its full name); `filters`: KEY=VALUE."""
    rows = leaderboard.select(leaderboard.collect(_folder(folder)), filters or [])
    return Leaderboard(leaderboard.order(rows, sort) if sort else rows)


def plot(run_dirs: list[str | os.PathLike], output: str | os.PathLike = "learning_curves.png") -> Path:
    """The learning curves of several runs overlaid in one PNG; returns its path."""
    from nnctl.run.analysis import read_history
    from nnctl.run.plots import compare

    curves = {}
    for value in run_dirs:
        run = run_folder.resolve_run(str(value), run_folder.default_runs_dir())
        history = read_history(run)
        if not history:
            raise UserError(f"{run} has no epochs in history.csv yet")
        curves[run.name] = history
    compare(curves, Path(output))
    return Path(output)


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """`KEY=V1,V2` items (`nnctl sweep --grid`) as {key: [values]}, the values read as YAML: `sweep`'s grid."""
    from nnctl.sweeps.grid import parse_grid as parse

    return parse(items)


def _folder(folder: str | os.PathLike | None) -> Path:
    return Path(folder) if folder is not None else run_folder.default_runs_dir()
