"""`nnctl sweep --space/--search`: the searching sweep's printing (the core is commands/search.py)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import typer

from nnctl.cli.app import err
from nnctl.cli.show import print_aligned


def run_search(config: Path, spaces: list[str], grid: dict[str, list[Any]], base: list[str], runs_dir: Path,
               search: str, trials: int | None, objective: str | None, prune: str, storage: str | None, seed: int,
               parallel: int, sort: str | None, dry_run: bool, as_json: bool) -> None:
    from nnctl.commands import search as core
    from nnctl.run import leaderboard

    s = core.plan(config, spaces, grid, base, runs_dir, search, trials, objective, prune, storage, seed)
    if dry_run:  # one worker's command: a Slurm array (or any scheduler) runs it N times on one study
        sys.stdout.write(shlex.join(["nnctl", "sweep", *sys.argv[sys.argv.index("sweep") + 1:]]
                                    if "sweep" in sys.argv else ["nnctl", "sweep", str(config)]).replace(
                                        " --dry-run", "") + "\n")
        return
    err.print(f"{s.search} search of {s.trials} trials on {s.objective} ({s.direction}) in {s.folder}, "
              f"{parallel} at a time, pruning: {s.prune}", highlight=False)
    study = core.run(s, parallel, lambda msg: err.print(msg, highlight=False, markup=False))
    found = core.summary(s, study)
    rows = leaderboard.order(leaderboard.of([Path(t["run_dir"]) for t in found["trials"] if t["run_dir"]]),
                             sort or s.objective)
    if as_json:
        sys.stdout.write(json.dumps(leaderboard.as_records(rows), indent=2) + "\n")
    else:
        print_aligned(leaderboard.table(rows))
    if "best" in found:
        b = found["best"]
        err.print(f"best: trial {b['number']}, {s.objective} {b['value']:.4g}: nnctl train {config} {b['set']}",
                  highlight=False, markup=False)
    if found.get("importance"):
        err.print("importance: " + ", ".join(f"{k} {v:.2f}" for k, v in found["importance"].items()),
                  highlight=False)
    states = [t["state"] for t in found["trials"]]
    err.print(f"{states.count('complete')} complete, {states.count('pruned')} pruned, {states.count('fail')} failed; "
              f"{s.folder / 'search.json'}, {s.folder / 'search.png'}", highlight=False)
    raise typer.Exit(1 if states.count("fail") else 0)
