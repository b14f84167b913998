"""Run folders: their files' names, unique creation, atomic writes, strict reads, finding runs.

`RunFolder` is the one owner of a run folder's layout: every other module asks it for a file
rather than spelling the name. A sweep folder (one holding sweep.json) is a folder of runs
too: finding runs looks inside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnctl.errors import UserError

RUNS_DIR_ENV = "NNCTL_RUNS_DIR"

# A run folder's files (see the README's "The run folder").
CONFIG = "config.yaml"
METRICS = "metrics.json"
MODEL = "model.keras"
SUMMARY = "summary.txt"
HISTORY = "history.csv"
EVALUATION = "evaluation.json"
SWEEP_MANIFEST = "sweep.json"  # marks a sweep folder
CHECKPOINTS = "checkpoints"
PLOTS = "plots"
TENSORBOARD = "tensorboard"
EXPORT = "export"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # mkstemp makes 0600 files; run files are as readable as any other


def default_runs_dir() -> Path:
    return Path(os.environ.get(RUNS_DIR_ENV, "runs"))


def safe_name(name: str) -> str:
    """Keep a run name to one harmless path component (`../../etc` -> `etc`)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")
    return cleaned or "run"


def create(runs_dir: Path, name: str) -> Path:
    """`<name>-<YYYYMMDD-HHMMSS>[-N]`, made with an exclusive mkdir so parallel runs never share one."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{safe_name(name)}-{time.strftime('%Y%m%d-%H%M%S')}"
    for n in range(1, 10_000):
        path = runs_dir / (stem if n == 1 else f"{stem}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise UserError(f"could not create a run folder for {stem} in {runs_dir}")


# The process a user sees running this command: the `nnctl` they started, where the warm server's
# fork runs it (nnctl.daemon.server sets it); this process otherwise.
COMMAND_PID: int | None = None


@contextlib.contextmanager
def lock(run: Path) -> Iterator[None]:
    """Hold the run for this process: a second `--resume` of a run still training is refused.

    flock is released by the kernel when the process dies, even by SIGKILL, so a
    killed run is never left locked.
    """
    fd = os.open(run / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise UserError(f"{run} is being trained by another process (pid {pid}); "
                            "wait for it or stop it before resuming") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(COMMAND_PID or os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write to a temp file beside `path`, fsync, rename: readers never see half a file."""
    data = content.encode() if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), FILE_MODE)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def read_json(path: Path) -> dict[str, Any] | None:
    """None for a missing or unreadable file (a run another process is still writing)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_metrics(run: Path) -> dict[str, Any]:
    """A run's metrics.json for a command that needs it: {} where there is none yet, and a
    one-line error naming the file where it is damaged (never a guess from half a record)."""
    path = run / METRICS
    if not path.exists():
        return {}
    data = read_json(path)
    if data is None:
        raise UserError(f"{path} is damaged (not a complete JSON object); restore it from a copy, or delete it "
                        f"and run nnctl train --resume {run} to rebuild it from the checkpoints")
    return data


def read_config(run: Path, overrides: list[str] | None = None) -> Any:
    """A run's resolved config.yaml as a Config; a damaged one is named as the run's file."""
    from nnctl.config import load_config

    path = run / CONFIG
    try:
        cfg = load_config(path)
    except UserError as e:
        raise UserError(f"{path} is damaged or not a run's config ({e}); restore it from a copy") from None
    return load_config(path, overrides) if overrides else cfg


def is_run(path: Path) -> bool:
    return (path / CONFIG).is_file()


def is_sweep(path: Path) -> bool:
    return (path / SWEEP_MANIFEST).is_file()


def find(runs_dir: Path) -> list[tuple[Path, str | None]]:
    """Every run folder in runs_dir and in the sweep folders inside it, with its sweep's name (or None).

    runs_dir may itself be a sweep folder: its runs then carry its name.
    """
    own_sweep = runs_dir.name if is_sweep(runs_dir) else None
    found: list[tuple[Path, str | None]] = []
    for p in sorted(runs_dir.iterdir()):
        if not p.is_dir() or p.name.startswith("."):
            continue
        if is_sweep(p) and not is_run(p):
            found += [(q, p.name) for q in sorted(p.iterdir()) if q.is_dir() and not q.name.startswith(".")]
        else:
            found.append((p, own_sweep))
    return found


def latest(runs_dir: Path) -> Path:
    """The most recently started run folder under runs_dir, sweeps' runs included."""
    if not runs_dir.is_dir():
        raise UserError(f"no runs yet: {runs_dir} does not exist; train one with: nnctl train CONFIG")
    found = [p for p, _ in find(runs_dir) if is_run(p)]
    if not found:
        raise UserError(f"no runs in {runs_dir}; train one with: nnctl train CONFIG")
    return max(found, key=lambda p: (_started(p), p.name))


def _started(run: Path) -> float:
    meta = read_json(run / METRICS) or {}
    started = meta.get("started_at")
    return float(started) if isinstance(started, (int, float)) else (run / CONFIG).stat().st_mtime


def named(runs_dir: Path, name: str) -> Path | None:
    """The newest run folder that `create(runs_dir, name)` made (`<name>-<YYYYMMDD-HHMMSS>[-N]`), or
    None: how a re-run sweep finds the folder of a point its killed run had started."""
    pattern = re.compile(re.escape(safe_name(name)) + r"-\d{8}-\d{6}(-\d+)?")
    found = [p for p in runs_dir.glob(f"{safe_name(name)}-*") if pattern.fullmatch(p.name) and is_run(p)] \
        if runs_dir.is_dir() else []
    return max(found, key=lambda p: (_started(p), p.name)) if found else None


def resolve_run(value: str | None, runs_dir: Path) -> Path:
    if value is None:
        return latest(runs_dir)
    path = Path(value)
    if not path.is_dir():
        raise UserError(f"run folder not found: {value}")
    if not is_run(path):
        raise UserError(f"{value} is not a run folder (no config.yaml in it)")
    return path


@dataclass(frozen=True)
class RunFolder:
    """One run folder: its files by name, written atomically, read strictly."""

    path: Path

    @classmethod
    def create(cls, runs_dir: Path, name: str) -> RunFolder:
        return cls(create(runs_dir, name))

    def __str__(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    config = property(lambda self: self.path / CONFIG)
    metrics = property(lambda self: self.path / METRICS)
    model = property(lambda self: self.path / MODEL)
    summary = property(lambda self: self.path / SUMMARY)
    history = property(lambda self: self.path / HISTORY)
    evaluation = property(lambda self: self.path / EVALUATION)
    checkpoints = property(lambda self: self.path / CHECKPOINTS)
    plots = property(lambda self: self.path / PLOTS)
    tensorboard = property(lambda self: self.path / TENSORBOARD)
    export = property(lambda self: self.path / EXPORT)

    def write(self, file: Path, content: str | bytes) -> None:
        write_atomic(file, content)

    def write_json(self, file: Path, data: dict[str, Any]) -> None:
        write_json(file, data)

    def copy_from(self, other: RunFolder, file: str) -> None:
        """One of `other`'s files (CONFIG, MODEL, ...) into this folder, atomically."""
        write_atomic(self.path / file, (other.path / file).read_bytes())

    def write_record(self, record: Any) -> None:
        """metrics.json from a `nnctl.run.record.Record`."""
        write_json(self.metrics, record.dump())

    def read_metrics(self) -> dict[str, Any]:
        return read_metrics(self.path)

    def read_record(self) -> Any:
        """metrics.json as a Record (a new one where there is none yet)."""
        from pydantic import ValidationError

        from nnctl.run.record import Record

        try:
            return Record.model_validate(read_metrics(self.path))
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "metrics.json"
            raise UserError(f"{self.metrics} is damaged ({where}: {err['msg']}); restore it from a copy, or delete "
                            f"it and run nnctl train --resume {self.path} to rebuild it from the checkpoints") from None

    def read_config(self, overrides: list[str] | None = None) -> Any:
        return read_config(self.path, overrides)

    def lock(self) -> contextlib.AbstractContextManager[None]:
        return lock(self.path)

    def load_model(self) -> Any:
        """The run's model.keras through nnctl's one loading path."""
        from nnctl.model import saved

        if not self.model.exists():
            status = read_metrics(self.path).get("status", "unknown")
            then = (f"; resume it with: nnctl train --resume {self.path}"
                    if status in ("interrupted", "failed", "running") else "")
            raise UserError(f"{self.path} has no {MODEL} (run status: {status}): only a completed run has one{then}")
        return saved.load_model(self.model, fix=f"train it again, or resume it to rewrite it: "
                                                f"nnctl train --resume {self.path}")
