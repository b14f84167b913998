"""The warm server as users meet it: `nnctl` processes from a shell, signals, kills, other users, code edits.

The session's server is shared (conftest: NNCTL_DAEMON_DIR); tests that kill or replace a server
use a folder of their own, and start servers of their own, so they are in the slow tier (CI runs it).
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import IRIS, nnctl, nnctl_command, start_nnctl, write_config

SEEDED = IRIS + "seed: 3\nepochs: 3\nreport: false\nimportance: false\n"


def servers(env: dict[str, str] | None = None) -> list[dict]:
    p = nnctl("daemon", "status", "--json", env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def current(env: dict[str, str] | None = None) -> dict:
    (found,) = [s for s in servers(env) if s["current"]]
    return found


def own_folder(tmp_path: Path) -> dict[str, str]:
    """A socket folder of this test's own, so that killing its server touches no other test (short:
    a UNIX socket's path has at most 107 bytes)."""
    short = Path(tempfile.mkdtemp(prefix="nnctl-d-"))
    (tmp_path / "daemon").symlink_to(short)
    return {"NNCTL_DAEMON_DIR": str(short)}


def outcome(run_dir: Path) -> tuple[str, dict]:
    return (run_dir / "history.csv").read_text(), json.loads((run_dir / "metrics.json").read_text())["test"]


def test_a_shell_loop_through_the_server_equals_runs_without_it(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", SEEDED)
    loop = ("for lr in 0.01 0.003; do "
            f"{' '.join(nnctl_command())} -q train {cfg} --set optimizer.learning_rate=$lr --runs-dir $OUT || exit 9; "
            "done")
    for out, daemon in (("warm", "1"), ("cold", "0")):
        p = subprocess.run(["sh", "-c", loop], env={**os.environ, "OUT": str(tmp_path / out), "NNCTL_DAEMON": daemon},
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        assert len(p.stdout.split()) == 2  # each prints its run folder, as without the server
    warm = sorted((tmp_path / "warm").iterdir())
    cold = sorted((tmp_path / "cold").iterdir())
    assert [outcome(w) for w in warm] == [outcome(c) for c in cold]  # bit for bit: histories and test metrics
    assert (warm[0] / "config.yaml").read_text() == (cold[0] / "config.yaml").read_text()
    first = current()
    nnctl("summary", cfg)
    assert current()["pid"] == first["pid"] and current()["served"] > first["served"]  # one server served them


@pytest.mark.slow  # six commands cold and warm: the slow tier (.ci/run); the shell loop's equality is in the default
def test_what_a_command_prints_exits_and_reads_is_what_it_does_without_the_server(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", SEEDED)
    bad = write_config(tmp_path / "bad.yaml", IRIS + "epochz: 3\n")
    for args in (["validate", cfg], ["validate", bad], ["summary", cfg], ["schema"], ["predict", "nowhere", "-"],
                 ["train", cfg, "--set", "epochs=x"]):
        warm, cold = nnctl(*args, env={"NNCTL_DAEMON": "1"}), nnctl(*args, env={"NNCTL_DAEMON": "0"})
        assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr), args
    # stdin, the working folder and the environment are the caller's
    run = tmp_path / "runs" / json.loads(nnctl("-q", "train", cfg, "--json").stdout.splitlines()[-1])["run_dir"]
    rows = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"
    (tmp_path / "sub").mkdir()
    p = nnctl("predict", run, "-", "-o", "p.csv", stdin=rows, cwd=tmp_path / "sub")
    assert p.returncode == 0, p.stderr
    assert len((tmp_path / "sub" / "p.csv").read_text().splitlines()) == 3
    p = nnctl("-q", "train", cfg, "--json", env={"NNCTL_RUNS_DIR": str(tmp_path / "elsewhere")})
    assert Path(json.loads(p.stdout.splitlines()[-1])["run_dir"]).parent == tmp_path / "elsewhere"


def test_one_commands_state_never_reaches_the_next(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", SEEDED)
    first = nnctl("-q", "train", cfg, "--set", "mixed_precision=mixed_bfloat16", "--json")
    then = nnctl("-q", "train", cfg, "--json")
    assert first.returncode == then.returncode == 0, first.stderr + then.stderr
    runs = [Path(json.loads(p.stdout.splitlines()[-1])["run_dir"]) for p in (first, then)]
    precision = [json.loads((r / "metrics.json").read_text())["precision"]["policy"] for r in runs]
    assert precision == ["mixed_bfloat16", "float32"]  # Keras' global policy did not leak
    again = nnctl("-q", "train", cfg, "--json")  # and the float32 run is what it was before it
    assert outcome(runs[1]) == outcome(Path(json.loads(again.stdout.splitlines()[-1])["run_dir"]))


def test_ctrl_c_in_the_caller_interrupts_the_run_and_the_server_goes_on(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", IRIS + "epochs: 100000\nreport: false\n")
    assert nnctl("validate", cfg).returncode == 0  # the server is up (the first command starts it)
    before = current()
    caller = start_nnctl("train", cfg)
    for line in caller.stderr:
        if line.startswith("epoch"):
            break
    caller.send_signal(signal.SIGINT)
    _, stderr = caller.communicate(timeout=120)
    assert caller.returncode == 130, stderr
    assert "interrupted after" in stderr and "nnctl train --resume" in stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "metrics.json").read_text())["status"] == "interrupted"
    resumed = nnctl("-q", "train", "--resume", run, "--epochs", "3", "--json")
    assert resumed.returncode == 0 and json.loads((run / "metrics.json").read_text())["status"] == "completed"
    assert current()["pid"] == before["pid"]  # still serving


@pytest.mark.slow  # starts servers of its own (7 s each on 2 cores): the slow tier (.ci/run)
def test_a_killed_server_or_command_process_leaves_a_caller_that_says_so(tmp_path: Path) -> None:
    env = own_folder(tmp_path)
    cfg = write_config(tmp_path / "iris.yaml", IRIS + "epochs: 100000\nreport: false\n")
    caller = start_nnctl("train", cfg, env=env)
    for line in caller.stderr:
        if line.startswith("epoch"):
            break
    server = current(env)
    os.kill(server["pid"], signal.SIGKILL)  # the server dies: the command is a process of its own and goes on
    time.sleep(1)
    assert caller.poll() is None
    os.kill(_command_pid(server), signal.SIGKILL)  # ...and now the process running the command dies too
    _, stderr = caller.communicate(timeout=60)
    assert caller.returncode == 1
    assert stderr.strip().splitlines()[-1].startswith("error: the warm nnctl process")
    assert "nnctl train --resume" in stderr and "Traceback" not in stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert nnctl("-q", "train", "--resume", run, "--epochs", "2", env=env).returncode == 0  # resumable
    assert current(env)["pid"] != server["pid"]  # the next command started a new server


def _command_pid(server: dict) -> int:
    """The process running the command: a fork of the server, so its command line is the server's."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
                status = (proc / "status").read_text()
            except OSError:
                continue
            if server["socket"].encode() in cmd and int(proc.name) != server["pid"] and "State:\tZ" not in status:
                return int(proc.name)
    raise AssertionError("no command process found")


RAW = """
import json, os, socket, sys
from nnctl import daemon_control as control
sock = control.connect(sys.argv[1])
if sock is None:
    print("refused: cannot connect")
else:
    control.send(sock, {"op": "run", "argv": ["validate", sys.argv[2]], "cwd": "/", "env": {}}, fds=[0, 1, 2])
    reply, _ = control.receive(sock)
    print("refused: no reply" if reply is None else f"served: {reply}")
"""


@pytest.mark.slow  # starts servers of its own (7 s each on 2 cores): the slow tier (.ci/run)
def test_another_user_cannot_reach_the_server(tmp_path: Path) -> None:
    env = own_folder(tmp_path)
    cfg = write_config(tmp_path / "iris.yaml", IRIS)
    assert nnctl("validate", cfg, env=env).returncode == 0
    server = current(env)
    folder = Path(env["NNCTL_DAEMON_DIR"])
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert oct(Path(server["socket"]).stat().st_mode & 0o777) == "0o600"
    if os.getuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as another user")
    other = Path(tempfile.mkdtemp())
    try:
        os.chmod(other, 0o755)
        shutil.copy(cfg, other / "iris.yaml")
        as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        probe = subprocess.run([*as_nobody, sys.executable, "-c", "import nnctl"], cwd=other, capture_output=True)
        if probe.returncode != 0:  # this checkout or its virtualenv is not readable by others
            pytest.skip("user nobody cannot import nnctl from this checkout")
        nobody_env = {**os.environ, **env, "HOME": str(other), "KERAS_HOME": str(other / "k")}
        # nobody's own nnctl pointed at this user's folder: refused there, it runs the command itself
        p = subprocess.run([*as_nobody, *nnctl_command(), "validate", "iris.yaml"], cwd=other, env=nobody_env,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        # and talking to the socket directly: the folder's mode or the server's peer check refuses it
        p = subprocess.run([*as_nobody, sys.executable, "-c", RAW, server["socket"], str(other / "iris.yaml")],
                           cwd=other, env=nobody_env, capture_output=True, text=True, timeout=60)
        assert p.stdout.startswith("refused"), p.stdout + p.stderr
        assert current(env)["served"] == server["served"]
    finally:
        shutil.rmtree(other, ignore_errors=True)
    # a socket folder that others could enter is refused: the command runs without a server
    loose = tmp_path / "loose"
    loose.mkdir()
    os.chmod(loose, 0o777)
    p = nnctl("validate", cfg, env={"NNCTL_DAEMON_DIR": str(loose)})
    assert p.returncode == 0 and list(loose.iterdir()) == []


@pytest.mark.slow  # starts servers of its own (7 s each on 2 cores): the slow tier (.ci/run)
def test_a_server_that_imported_older_code_is_replaced_never_used(tmp_path: Path) -> None:
    import nnctl as package

    copy = tmp_path / "site"
    shutil.copytree(Path(package.__file__).parent, copy / "nnctl", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, **own_folder(tmp_path), "PYTHONPATH": str(copy)}
    entry = [sys.executable, "-c", "import sys; from nnctl.daemon.client import main; sys.argv[0] = 'nnctl'; main()"]
    cfg = write_config(tmp_path / "iris.yaml", IRIS)

    def status() -> list[dict]:
        p = subprocess.run([*entry, "daemon", "status", "--json"], env=env, capture_output=True, text=True)
        return json.loads(p.stdout)

    assert subprocess.run([*entry, "validate", str(cfg)], env=env, capture_output=True).returncode == 0
    (old,) = status()
    with open(copy / "nnctl" / "version.py", "a") as f:  # a code edit (pip install -U changes files the same way)
        f.write("EDITED = True\n")
    p = subprocess.run([*entry, "validate", str(cfg)], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    (new,) = status()
    assert new["pid"] != old["pid"] and new["current"]
    with pytest.raises(ProcessLookupError):
        os.kill(old["pid"], 0)


def test_a_terminal_gets_the_progress_bar_through_the_server(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "iris.yaml", SEEDED)
    seen = {}
    for daemon in ("1", "0"):
        pid, fd = pty.fork()
        if pid == 0:
            os.environ["NNCTL_DAEMON"] = daemon
            os.execv(nnctl_command()[0], [*nnctl_command(), "train", str(cfg)])
        chunks = []
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        seen[daemon] = (os.waitpid(pid, 0)[1], b"".join(chunks).decode(errors="replace"))
    for status, text in seen.values():
        assert status == 0, text
        assert "\x1b[" in text and "epoch 3/3" in text  # rich's styled terminal output, both ways


@pytest.mark.slow  # starts servers of its own (7 s each on 2 cores): the slow tier (.ci/run)
def test_a_server_past_its_memory_bound_stops_and_the_next_command_starts_another(tmp_path: Path) -> None:
    env = {**own_folder(tmp_path), "NNCTL_DAEMON_MAX_MB": "1"}
    cfg = write_config(tmp_path / "iris.yaml", IRIS)
    assert nnctl("validate", cfg, env=env).returncode == 0  # served, then over the bound: it stops
    deadline = time.time() + 30
    while servers(env) and time.time() < deadline:
        time.sleep(0.5)
    assert servers(env) == [] and list(Path(env["NNCTL_DAEMON_DIR"]).glob("*.sock")) == []
