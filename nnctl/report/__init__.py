"""`nnctl report`: one self-contained HTML page for a run, a sweep folder, or several runs side by
side. `train` and `sweep` write report.html into their folder at the end (config key `report`).
Reads run folders only: no TensorFlow."""

from __future__ import annotations

from pathlib import Path

from nnctl.errors import UserError
from nnctl.run import folder as runs

REPORT = "report.html"


def write(targets: list[Path], output: Path | None = None) -> Path:
    """Write the report for `targets` (one run, one sweep folder, or several runs) and return its path:
    `output`, else TARGET/report.html for one target, else ./report.html."""
    from nnctl.report import page, run, sweep

    if not targets:
        raise UserError("give a run folder, a sweep folder, or several run folders to compare", "TARGET")
    for t in targets:
        if not t.is_dir():
            raise UserError(f"not found: {t} (give a run folder or a sweep folder)", "TARGET")
        if not runs.is_run(t) and not runs.is_sweep(t):
            raise UserError(f"{t} is neither a run folder (config.yaml) nor a sweep folder (sweep.json)", "TARGET")
    if len(targets) == 1 and runs.is_sweep(targets[0]) and not runs.is_run(targets[0]):
        html = page.render(f"nnctl sweep {targets[0].name}", "sweep", sweep=sweep.sweep(targets[0]))
    elif len(targets) == 1:
        html = page.render(f"nnctl run {targets[0].name}", "run", run=run.section(targets[0]))
    else:
        paths = [p for t in targets for p in ([t] if runs.is_run(t) else [q for q, _ in runs.find(t)])]
        html = page.render(f"nnctl: {len(paths)} runs compared", "comparison", comparison=sweep.comparison(paths))
    out = output or (targets[0] / REPORT if len(targets) == 1 else Path(REPORT))
    if out.is_dir():
        out = out / REPORT
    if not out.parent.is_dir():
        raise UserError(f"-o {out}: the folder {out.parent} does not exist", "-o")
    runs.write_atomic(out, html)
    return out
