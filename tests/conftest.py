"""Every test gets its own runs folder and Keras cache, and never touches the network."""

from __future__ import annotations

import os
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
