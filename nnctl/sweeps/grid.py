"""Sweeps: a grid (or random picks from it) of ordinary `nnctl train` runs in one folder with a manifest.

Each point is trained as `nnctl train` would by a warm worker process (sweeps/executor.py:
TensorFlow imported once per worker, Keras' state cleared between points), so a crash or a failed
point never takes the others down, and `--parallel N` gives each worker its share of the cores.
The sweep folder's name is a hash of the config and the sweep's arguments: running the
same sweep again finds the same folder, skips finished points, resumes interrupted ones
and retries failed ones.
"""

from __future__ import annotations

import itertools
import random
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nnctl.config import flow, load_config, load_yaml
from nnctl.errors import UserError
from nnctl.run import folder as runs
from nnctl.sweeps import executor

MANIFEST = runs.SWEEP_MANIFEST


@dataclass
class Point:
    id: int
    overrides: list[str]  # the point's own --set items
    name: str
    run_dir: str | None = None
    status: str = "pending"  # pending | completed | failed | interrupted
    exit_code: int | None = None
    val: dict[str, float] = field(default_factory=dict)  # what ranks the point
    test: dict[str, float] = field(default_factory=dict)  # shown beside it, never used to pick
    error: str | None = None


@dataclass
class Sweep:
    folder: Path
    config: Path
    base: list[str]  # --set items shared by every point
    points: list[Point]
    args: dict[str, Any]

    def resumes(self, point: Point) -> bool:
        """An interrupted point continues in its own folder: from its checkpoint, or from the start
        where it was stopped before its first epoch ended."""
        return point.status == "interrupted" and bool(point.run_dir) and runs.is_run(Path(point.run_dir))

    def request(self, point: Point) -> executor.Request:
        log = executor.log_path(self.folder, point.name)
        if self.resumes(point):
            return executor.Request(None, [], str(self.folder), resume=point.run_dir, log=log)
        return executor.Request(str(self.config), [*self.base, *point.overrides], str(self.folder), point.name,
                                log=log)

    def command(self, point: Point) -> list[str]:
        """The point as a `nnctl train` command line, for a scheduler (`--dry-run`)."""
        if self.resumes(point):
            return ["nnctl", "train", "--resume", str(point.run_dir), "--json"]
        sets = [a for item in [*self.base, *point.overrides] for a in ("--set", item)]
        return ["nnctl", "train", str(self.config), *sets, "--name", point.name, "--runs-dir", str(self.folder),
                "--json"]


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """`KEY=V1,V2,...` -> {KEY: [V1, V2]}; values are YAML, so `{name: sgd, momentum: 0.9},adam` works."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise UserError(f"--grid {item!r}: expected KEY=V1,V2,..., e.g. --grid optimizer.learning_rate=0.1,0.01")
        try:
            values = load_yaml(f"[{raw}]")
        except yaml.YAMLError:
            raise UserError(f"--grid {item!r}: the values are not valid YAML") from None
        grid[key.strip()] = values
    return grid


def plan(config: Path, grid: dict[str, list[Any]], base: list[str], runs_dir: Path, random_n: int | None = None,
         seed: int = 0, repeat: int = 1) -> Sweep:
    """The sweep's points, each checked against the config schema before anything runs."""
    if not grid:
        raise UserError("give at least one --grid KEY=V1,V2,...")
    combos = [list(c) for c in itertools.product(*([f"{k}={flow(v)}" for v in vs] for k, vs in grid.items()))]
    if random_n is not None:
        combos = random.Random(seed).sample(combos, min(random_n, len(combos)))
    cfg = load_config(config, base)
    if repeat > 1:  # repeats differ only in their seed
        combos = [[*c, f"seed={cfg.seed + r}"] for c in combos for r in range(repeat)]
    name = runs.safe_name(cfg.name or config.stem)
    points = [Point(i, c, f"{name}-p{i:03d}") for i, c in enumerate(combos, 1)]
    for p in points:
        try:
            load_config(config, [*base, *p.overrides])
        except UserError as e:
            raise UserError(f"sweep point {p.id} ({' '.join(p.overrides)}): {e}") from None
    args = {"grid": grid, "random": random_n, "seed": seed, "repeat": repeat, "set": base}
    folder, _ = executor.sweep_folder(runs_dir, name, "sweep", config, args)
    return Sweep(folder, config.resolve(), base, points, args)


def load_progress(sweep: Sweep) -> None:
    """Take each point's state from an earlier run of the same sweep, checked against its run folder."""
    manifest = runs.read_json(sweep.folder / MANIFEST)
    if not manifest:
        return
    earlier = {p["id"]: p for p in manifest.get("points", [])}
    for p in sweep.points:
        old = earlier.get(p.id)
        if not old or old.get("overrides") != p.overrides:
            continue
        # A point whose sweep was killed before it ended has no run_dir in the manifest: its folder
        # is found by name, and resumed rather than trained a second time.
        run_dir = old.get("run_dir") or (str(found) if (found := runs.named(sweep.folder, p.name)) else None)
        if not run_dir:
            continue
        meta = runs.read_json(Path(run_dir) / runs.METRICS) or {}
        p.run_dir, p.val, p.test = run_dir, meta.get("val") or {}, meta.get("test") or {}
        # "running" means its process died (a sweep never leaves one running): resume it.
        p.status = {"running": "interrupted"}.get(meta.get("status"), meta.get("status", "failed"))


def write_manifest(sweep: Sweep) -> None:
    runs.write_json(sweep.folder / MANIFEST, {
        "config": str(sweep.config), **sweep.args, "updated_at": time.time(),
        "points": [asdict(p) for p in sweep.points],
    })


def execute(sweep: Sweep, parallel: int = 1, on_event: Callable[[str], None] = lambda s: None,
            worker: Any = None) -> list[Point]:
    """Run every point not yet completed; returns the points in order. Ctrl-C/SIGTERM stops them gracefully."""
    sweep.folder.mkdir(parents=True, exist_ok=True)
    load_progress(sweep)
    for p in sweep.points:
        if p.status == "completed":
            on_event(f"point {p.id}/{len(sweep.points)} {' '.join(p.overrides)}: completed earlier, skipped")
    write_manifest(sweep)
    todo = [p for p in sweep.points if p.status != "completed"]
    stop = executor.execute(_Points(sweep, todo, on_event), parallel, worker)
    if stop:
        for p in todo:
            if p.status == "pending":
                p.status = "interrupted"
        write_manifest(sweep)
    return sweep.points


class _Points:
    """The grid's points as the executor's source: in order, each recorded in the manifest as it ends."""

    def __init__(self, sweep: Sweep, todo: list[Point], on_event: Callable[[str], None]) -> None:
        self.sweep, self.todo, self.on_event = sweep, list(todo), on_event

    def take(self) -> tuple[Point, executor.Request] | None:
        return (self.todo[0], self.sweep.request(self.todo.pop(0))) if self.todo else None

    def done(self, p: Point, reply: executor.Reply, seconds: float) -> None:
        _record(p, reply)
        write_manifest(self.sweep)
        self.on_event(f"point {p.id}/{len(self.sweep.points)} {' '.join(p.overrides)}: {p.status}"
                      f"{_scores('val', p.val)}{_scores('test', p.test)} ({seconds:.1f}s)")


def _record(p: Point, reply: executor.Reply) -> None:
    p.exit_code = reply.code
    p.run_dir = reply.run_dir or p.run_dir
    p.status, meta = executor.outcome(reply.code, p.run_dir)
    p.val = meta.get("val") or reply.val
    p.test = meta.get("test") or reply.test
    p.error = None if p.status == "completed" else reply.error or f"exit {reply.code}"


def _scores(split: str, values: dict[str, float]) -> str:
    return "".join(f" {split}.{k}={v:.4g}" for k, v in values.items())


def dry_run(sweep: Sweep) -> list[str]:
    """One complete shell command per point, for GNU parallel, a Slurm array or any scheduler."""
    return [shlex.join(sweep.command(p)) for p in sweep.points]
