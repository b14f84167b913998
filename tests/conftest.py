"""Every test gets its own runs folder and Keras cache, and never touches the network.

`nnctl(...)` runs the installed `nnctl` as a user types it, in a new process (the proof of what
users run); `cli(...)` runs it in-process through Typer's test runner (for speed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nnctl.cli import app

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NNCTL_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setenv("NNCTL_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


IRIS = ("data: {source: iris}\n"
        "layers: [{Dense: {units: 8, activation: relu}}, {Dense: {units: 3, activation: softmax}}]\n")


def nnctl_command() -> list[str]:
    """The installed console script, as users run it (python -m nnctl.cli where it is not on PATH)."""
    script = shutil.which("nnctl", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "nnctl.cli"]


def nnctl(*args: object, cwd: Path | None = None, env: dict[str, str] | None = None,
          timeout: float = 300, stdin: str | None = None) -> subprocess.CompletedProcess:
    """One `nnctl` process to its end. It inherits the test's folder and environment (the
    `isolated` fixture's runs folder) unless `cwd` or `env` (added to the environment) say otherwise;
    `stdin`: text piped into it."""
    return subprocess.run([*nnctl_command(), *map(str, args)], cwd=cwd, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=timeout, input=stdin)


def start_nnctl(*args: object, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.Popen:
    """One `nnctl` process, started: for tests that signal it, kill it or run several at once."""
    return subprocess.Popen([*nnctl_command(), *map(str, args)], cwd=cwd, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def last_json(p: subprocess.CompletedProcess) -> dict | list:
    """The JSON a command printed: `train --json`'s last line, or a whole document."""
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.lstrip().startswith("{") else json.loads(p.stdout)


def one_line_error(p: subprocess.CompletedProcess, code: int = 2) -> str:
    """The one `error: ...` line a failed command printed, checked to be alone and no traceback."""
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == code, p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, p.stderr
    return errors[0]


class Result:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.exit_code, self.stdout, self.stderr = code, stdout, stderr

    @property
    def last_line(self) -> str:
        return self.stdout.strip().splitlines()[-1]


def run_cli(*args: str) -> Result:
    """Run nnctl in-process through Typer's test runner (TensorFlow is imported once per session)."""
    r = CliRunner().invoke(app, [str(a) for a in args])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return Result(r.exit_code, r.stdout, r.stderr)


@pytest.fixture
def cli():
    return run_cli


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def blobs_npz(tmp_path: Path) -> Path:
    """A small, learnable 3-class problem: Gaussian blobs in 4 dimensions."""
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, size=(3, 4))
    y = rng.integers(0, 3, size=300)
    x = centers[y] + rng.normal(0, 0.5, size=(300, 4))
    path = tmp_path / "blobs.npz"
    np.savez(path, x_train=x.astype("float32"), y_train=y.astype("int64"))
    return path


def write_tags_csv(path: Path, rows: int) -> Path:
    """A multi-label CSV: two numeric columns and a `tags` column of "sun|rain" lists, seeded."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(rows, 2))
    tags = ["|".join(t for t, on in (("sun", r[0] > 0), ("rain", r[1] > 0)) if on) for r in x]
    lines = ["p,q,tags"] + [f"{r[0]:.3f},{r[1]:.3f},{t}" for r, t in zip(x, tags, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_dirs(tmp_path: Path) -> list[Path]:
    root = tmp_path / "runs"
    return sorted(p for p in root.iterdir()) if root.exists() else []


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
