"""Bad configs end in exit 2 with one line naming the key path; good ones validate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import CONFIGS, run_dirs, write_config

GOOD = """
name: blobs
data: {{source: {data}}}
layers:
  - Dense: {{units: 16, activation: relu}}
  - Dense: {{units: 3, activation: softmax}}
epochs: 1
"""


def good(data: Path) -> str:
    return GOOD.format(data=data)


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_validates(cli, config: Path) -> None:
    from nnctl.data.builtin import availability

    r = cli("validate", config)
    missing = {row["name"] for row in availability() if row["available"] == "needs download"}
    source = yaml.safe_load(config.read_text())["data"]["source"]
    if source in missing:  # e.g. fashion_mnist without Debian's package: a clear exit 2, not a crash
        assert r.exit_code == 2 and f"{source} is not available here" in r.stderr
        return
    assert r.exit_code == 0, r.stderr
    assert "ok" in r.stdout


BAD = [
    # (what, edit of the good config, expected fragments of the one-line message)
    ("unknown top-level key", lambda t: t.replace("epochs: 1", "epoch: 1"),
     ["epoch: unknown key", "did you mean 'epochs'"]),
    ("unknown layer with suggestion", lambda t: t.replace("- Dense: {units: 16", "- Dence: {units: 16"),
     ["layers.0", "unknown layer 'Dence'", "did you mean 'Dense'"]),
    ("bad argument type", lambda t: t.replace("units: 16", "units: sixteen"),
     ["layers.0.Dense", "sixteen"]),
    ("unknown layer argument", lambda t: t.replace("units: 16, activation", "unit: 16, activation"),
     ["layers.0.Dense", "unknown argument 'unit'", "did you mean 'units'"]),
    ("missing data file", lambda t: t.replace("source: ", "source: /nonexistent/"),
     ["data.source", "file not found"]),
    ("unknown optimizer", lambda t: t + "optimizer: adamm\n", ["optimizer", "did you mean 'adam'"]),
    ("unknown loss", lambda t: t + "loss: sparse_categorical_crossentropi\n",
     ["loss", "did you mean 'sparse_categorical_crossentropy'"]),
    ("wrong type for epochs", lambda t: t.replace("epochs: 1", "epochs: many"), ["epochs", "many"]),
    ("negative batch size", lambda t: t + "batch_size: -4\n", ["batch_size", "-4", "greater than or equal to 1"]),
    ("empty layer list", lambda t: t.split("layers:")[0] + "layers: []\n", ["layers", "at least 1"]),
    ("unknown data key", lambda t: t.replace("{source:", "{sauce: x, source:"), ["data.sauce: unknown key"]),
    ("YAML syntax error", lambda t: t.replace("name: blobs", "name: [blobs"), ["invalid YAML", "line"]),
    ("output units vs classes", lambda t: t.replace("units: 3", "units: 5"),
     ["layers.1.Dense", "3 classes", "5 output units", "units: 3"]),
    ("categorical_crossentropy on integer labels", lambda t: t + "loss: categorical_crossentropy\n",
     ["loss", "use loss: sparse_categorical_crossentropy"]),
    ("early stopping on an unknown metric", lambda t: t + "early_stopping: {monitor: val_acc}\n",
     ["early_stopping.monitor", "did you mean 'val_accuracy'"]),
    ("forbidden layer", lambda t: t.replace("- Dense: {units: 16, activation: relu}", "- Lambda: x"),
     ["layers.0", "not allowed"]),
    ("huge layer", lambda t: t.replace("units: 16", "units: 1000000000000"),
     ["layers.0.Dense", "would not fit in this machine's memory"]),
    ("huge epochs", lambda t: t.replace("epochs: 1", "epochs: 1.0e+400"), ["epochs", "finite number"]),
    ("bad --set path", None, ["layers.9", "no item"]),
    ("output of no fixed size", lambda t: t.replace("  - Dense: {units: 3, activation: softmax}",
                                                    "  - Dense: {units: 3}\n  - TextVectorization"),
     ["layers.2.TextVectorization", "is not fixed"]),
    ("steps_per_execution", lambda t: t + "steps_per_execution: 0\n",
     ["steps_per_execution", '"auto" or a whole number']),
]


@pytest.mark.parametrize(("what", "edit", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_exits_2_with_the_key_path(cli, tmp_path: Path, blobs_npz: Path, what, edit, expected) -> None:
    text = good(blobs_npz)
    args = []
    if edit is None:
        args = ["--set", "layers.9.Dense.units=4"]
    else:
        text = edit(text)
    cfg = write_config(tmp_path / "bad.yaml", text)
    for command in ("validate", "train"):
        r = cli(command, cfg, *args)
        assert r.exit_code == 2, (command, r.stdout, r.stderr)
        message = r.stderr.strip()
        assert len(message.splitlines()) == 1, message
        assert message.startswith("error: ")
        for fragment in expected:
            assert fragment in message, (fragment, message)
        assert "Traceback" not in r.stderr + r.stdout
    assert run_dirs(tmp_path) == []


def test_missing_or_directory_config(cli, tmp_path: Path) -> None:
    r = cli("validate", tmp_path / "nope.yaml")
    assert r.exit_code == 2 and "config file not found" in r.stderr
    r = cli("validate", tmp_path)
    assert r.exit_code == 2 and "is a directory" in r.stderr


def test_set_on_a_missing_key_suggests_the_right_one(cli, tmp_path: Path, blobs_npz: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", good(blobs_npz))
    r = cli("validate", cfg, "--set", "batchsize=8")
    assert r.exit_code == 2 and "did you mean 'batch_size'" in r.stderr
    r = cli("validate", cfg, "--set", "early_stopping.patience=2", "--set", "layers.1.Dense.units=3")
    assert r.exit_code == 0, r.stderr


def _imports_tensorflow(*argv: str) -> tuple[int, bool]:
    code = (
        "import sys\n"
        f"sys.argv = ['nnctl', *{list(argv)!r}]\n"
        "from nnctl.cli import run\n"
        "try:\n    run()\nexcept SystemExit as e:\n    code = e.code or 0\n"
        "print(code, 'tensorflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    code_s, imported = out.split()[-2:]
    return int(code_s), imported == "True"


def test_help_and_early_config_errors_do_not_import_tensorflow(tmp_path: Path) -> None:
    assert _imports_tensorflow("--help") == (0, False)
    bad = write_config(tmp_path / "bad.yaml", "data: {source: digits}\nlayers: [Dense]\nepoch: 3\n")
    assert _imports_tensorflow("validate", str(bad)) == (2, False)
