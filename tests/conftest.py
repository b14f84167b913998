"""Every test gets its own runs folder and Keras cache, and never touches the network.

`nnctl(...)` runs the installed `nnctl` as a user types it, in a new process (the proof of what
users run): through the warm server as users get it, which the session shares (NNCTL_DAEMON_DIR,
stopped at the end); `cli(...)` runs it in-process through Typer's test runner.
`shared_run(config, *args)` trains an example config once for the whole test session, whichever
xdist worker asks first, and hands each test a copy of the run folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nnctl.cli import app

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"


# One warm server and one Keras folder for the session, shared by xdist's workers (they inherit the
# environment the controller sets here): Keras reads KERAS_HOME when it is imported, so a folder per
# test would mean a server per test. The controller stops the server when the session ends.
if "PYTEST_XDIST_WORKER" not in os.environ and "NNCTL_TEST_SESSION" not in os.environ:
    os.environ["NNCTL_TEST_SESSION"] = tempfile.mkdtemp(prefix="nnctl-tests-")
    os.environ["NNCTL_DAEMON_DIR"] = os.path.join(os.environ["NNCTL_TEST_SESSION"], "daemon")
    os.environ["KERAS_HOME"] = os.path.join(os.environ["NNCTL_TEST_SESSION"], "keras-home")
    os.environ["NNCTL_DAEMON_IDLE"] = "300"  # a session that dies without its end leaves none for long
    # xdist's workers train at once, one per core: TensorFlow's pools sized for every core each made
    # them spin against each other. Tests of the thread count set their own.
    os.environ.setdefault("NNCTL_THREADS", "1")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if "PYTEST_XDIST_WORKER" not in os.environ and os.path.isdir(os.environ.get("NNCTL_DAEMON_DIR", "")):
        from nnctl import daemon_control as control

        control.stop(os.environ)
        shutil.rmtree(os.environ["NNCTL_TEST_SESSION"], ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """xdist's `--dist loadgroup` (pyproject): a file whose fixtures are module- or class-scoped stays
    on one worker, so that they are set up once; every other test goes to whichever worker is free."""
    shared: dict[Path, bool] = {}
    for item in items:
        if item.path not in shared:
            shared[item.path] = bool(re.search(r"scope=\"(module|class)\"", item.path.read_text()))
        if shared[item.path]:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NNCTL_RUNS_DIR", str(tmp_path / "runs"))
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


# Tiny trainings of the big example configs: a share of every split (60,000 images; VGG16 on 1,797;
# the CNNs on 5,000 digits). The tests prove what each command does with a run, not what a full run learns.
FRACTION = {"fashion_mnist": 0.05, "transfer_vgg16": 0.05, "mnist": 0.25, "autoencoder": 0.25}


def example_args(config: Path) -> list[str]:
    """How the tests train an example config (one epoch): test_chain's training, which other test
    files ask `shared_run` for too, so that it is trained once."""
    tiny = ["--set", f"data.fraction={FRACTION[config.stem]}"] if config.stem in FRACTION else []
    return ["--set", "epochs=1", *tiny]


@dataclass
class SharedRun:
    """One `nnctl train` process's result, trained once per test session (see `shared_run`)."""

    process: subprocess.CompletedProcess
    run: Path | None  # the shared original: read it, never change it

    def copy(self, into: Path) -> Path:
        """A copy of the run folder of one's own, to evaluate, resume or report on."""
        assert self.run is not None, self.process.stderr[-3000:]
        into.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copytree(self.run, into / self.run.name))


@pytest.fixture(scope="session")
def shared_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., SharedRun]:
    """`shared_run(CONFIG, *ARGS)`: `nnctl -q train CONFIG ARGS --json` in a new process, once for
    the whole session: xdist's workers share the folder above their own and take a file lock per
    training, so whichever asks first trains and the other waits and reuses it (xdist's recipe)."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared-runs"

    def get(config: Path, *args: object) -> SharedRun:
        key = hashlib.sha256(json.dumps([str(config), *map(str, args)]).encode()).hexdigest()[:16]
        folder = root / f"{Path(config).stem}-{key}"
        folder.mkdir(parents=True, exist_ok=True)
        record = folder / "process.json"
        with open(folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not record.exists():
                p = nnctl("-q", "train", config, *args, "--json", cwd=folder, timeout=600,
                          env={"NNCTL_RUNS_DIR": str(folder / "runs"), "NNCTL_OFFLINE": "1", "NNCTL_THREADS": "1"})
                record.write_text(json.dumps({"args": p.args, "returncode": p.returncode, "stdout": p.stdout,
                                              "stderr": p.stderr}))
        r = json.loads(record.read_text())
        p = subprocess.CompletedProcess(r["args"], r["returncode"], r["stdout"], r["stderr"])
        run = Path(json.loads(p.stdout.strip().splitlines()[-1])["run_dir"]) if p.returncode in (0, 1) \
            and p.stdout.strip() else None
        return SharedRun(p, run)

    return get


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


def cli_process(*args: object) -> subprocess.CompletedProcess:
    """`run_cli`'s in-process run as a finished process's record, for helpers that take either."""
    r = run_cli(*map(str, args))
    return subprocess.CompletedProcess(["nnctl", *map(str, args)], r.exit_code, r.stdout, r.stderr)


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
