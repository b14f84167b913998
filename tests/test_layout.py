"""The package's shape, read with `ast`: the layers of the package layout's diagram (in
docs/contributing.md) import only downwards, no module imports itself round a circle, none is over
400 lines, the CLI reaches the core only through the Python API, and `nnctl --help` (commands in
the order a user meets them) or a config's schema check imports no TensorFlow."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nnctl"

# The package layout's diagram (docs/contributing.md), bottom to top: a layer may import from its own
# and lower layers only.
LAYERS = [
    {"nnctl", "nnctl.errors", "nnctl.choices", "nnctl.backend", "nnctl.directions", "nnctl.version",
     "nnctl.daemon_control"},  # the warm server's socket and messages: the standard library only
    {"nnctl.config"},
    {"nnctl.data", "nnctl.model"},
    {"nnctl.run", "nnctl.layers"},
    {"nnctl.report"},
    {"nnctl.engine"},
    {"nnctl.training", "nnctl.commands"},  # the training core beside the other commands' bodies
    {"nnctl.sweeps"},  # sweeps train through nnctl.training
    {"nnctl.api"},  # nnctl/api/__init__.py re-exports api.configs and api.runs
    {"nnctl.server"},
    {"nnctl.cli"},
    {"nnctl.daemon"},  # the entry point and the warm server, which run the CLI
]
# `import nnctl` is the API's front door: `nnctl.train` loads nnctl.api on first use (a lazy re-export).
FACE = {("nnctl", "nnctl.api")}
# The CLI parses, calls the Python API and prints: what its modules may import (besides nnctl.cli.*)...
CLI_IMPORTS = {"nnctl", "nnctl.api", "nnctl.errors", "nnctl.choices", "nnctl.version"}
# ...and the exceptions, each with its reason.
CLI_EXCEPTIONS = {
    "nnctl.backend": "--verbose sets backend.VERBOSE, the process-wide switch for TensorFlow's own log lines, "
                     "before any command runs; `handled` reads it to show a traceback",
    "nnctl.run.text": "the lines the CLI prints (an epoch, split sizes, precision, aligned tables) are the ones "
                      "the core's progress reports write: one spelling, plain string functions",
    "nnctl.daemon_control": "`nnctl daemon status/stop` manage the warm server, which runs the CLI itself and "
                            "so sits above it; they use only its socket helpers",
    "nnctl.server": "`nnctl serve` starts the HTTP service, a front end beside the CLI and above the API in "
                    "LAYERS, so the API cannot start it",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, known: set[str]) -> set[str]:
    """The nnctl modules a file imports, at the top or inside functions (both run at some point)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("nnctl"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("nnctl")}
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, set(mods)) - {name} for name, path in mods.items()}


def layer(module: str) -> int:
    for i, members in enumerate(LAYERS):
        if any(module == m or module.startswith(m + ".") for m in members - {"nnctl"}) or module == "nnctl":
            return i
    raise AssertionError(f"{module} is in no layer of the diagram")


def test_every_module_is_in_a_layer_and_imports_only_downwards() -> None:
    upward = [f"{a} -> {b}" for a, deps in graph().items() for b in deps
              if layer(b) > layer(a) and (a, b) not in FACE]
    assert upward == []


def test_no_import_cycles() -> None:
    g = graph()
    # A package's __init__ re-exporting its own submodules is the package's face, not a circle.
    g = {a: {b for b in deps if not (b.startswith(a + ".") and modules()[a].name == "__init__.py")}
         for a, deps in g.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(g.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_cycle_check_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: two modules importing each other are a cycle."""
    (tmp_path / "nnctl").mkdir()
    (tmp_path / "nnctl" / "__init__.py").write_text("")
    (tmp_path / "nnctl" / "a.py").write_text("from nnctl import b\n")
    (tmp_path / "nnctl" / "b.py").write_text("def f():\n    from nnctl.a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "nnctl")
    assert graph()["nnctl.a"] == {"nnctl.b"} and graph()["nnctl.b"] == {"nnctl.a"}
    with pytest.raises(AssertionError):
        test_no_import_cycles()


def test_the_cli_reaches_the_core_only_through_the_api() -> None:
    allowed = CLI_IMPORTS | set(CLI_EXCEPTIONS)

    def fits(module: str) -> bool:  # a package named in the lists brings its submodules
        return module in allowed | {"nnctl.cli"} or module.startswith(("nnctl.cli.", "nnctl.server."))

    cli = {a: deps for a, deps in graph().items() if a == "nnctl.cli" or a.startswith("nnctl.cli.")}
    assert sorted(f"{a} -> {b}" for a, deps in cli.items() for b in deps if not fits(b)) == []
    used = set().union(*cli.values())
    stale = [e for e in CLI_EXCEPTIONS if not any(m == e or m.startswith(e + ".") for m in used)]
    assert stale == []  # an exception no longer needed leaves the list


def test_help_lists_the_commands_in_the_order_a_user_meets_them(cli) -> None:
    from nnctl.cli.app import COMMANDS

    r = cli("--help")
    listed = [m[1] for line in r.stdout.partition("Commands:")[2].splitlines() if (m := re.match(r"  (\w+)  ", line))]
    assert r.exit_code == 0 and listed[:6] == ["train", "validate", "summary", "evaluate", "predict", "export"]
    assert listed == COMMANDS  # a new command gets its place in the list, not the end by accident


def test_no_module_is_over_400_lines() -> None:
    long = {name: n for name, p in modules().items() if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_help_and_a_schema_error_import_no_tensorflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {source: digits}\nepochs: many\nlayers: [Dense]\n")
    code = ("import sys\nfrom nnctl.cli import app\n"
            "for args in (['--help'], ['validate', sys.argv[1]]):\n"
            "    try:\n        app(args)\n    except SystemExit:\n        pass\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip().splitlines()[-1] == "False False", r.stderr
    assert "epochs" in r.stderr


def test_evaluate_predict_and_export_do_not_load_the_training_stack() -> None:
    code = ("import sys\nimport nnctl.commands.evaluate, nnctl.commands.export, nnctl.commands.predict\n"
            "print(sorted(m for m in sys.modules if m.startswith(('nnctl.engine.prepare', 'nnctl.engine.loop', "
            "'nnctl.training', 'nnctl.sweeps', 'nnctl.engine.distribute'))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_every_command_ends_errors_as_one_line_through_the_app() -> None:
    """Each command, sub-commands included, is registered through `App.command` (errors -> exit codes)."""
    from nnctl.cli import app
    from nnctl.cli.app import App

    def commands(typer_app: object) -> list:
        found = list(typer_app.registered_commands)
        for group in typer_app.registered_groups:
            assert isinstance(group.typer_instance, App), group.name
            found += commands(group.typer_instance)
        return found

    every = commands(app)
    assert len(every) >= 13 and all(hasattr(c.callback, "__wrapped__") for c in every)


def test_config_show_of_a_bad_config_is_one_line(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {source: digits, output_step: 3}\nlayers: [Dense]\n")
    r = cli("config", "show", bad)
    assert r.exit_code == 2 and r.stderr.strip().splitlines() == [
        r.stderr.strip().splitlines()[0]] and "did you mean 'output_steps'" in r.stderr
