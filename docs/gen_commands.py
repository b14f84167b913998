"""Write docs/commands.md, the command reference, from nnctl's own `--help` texts.

    python docs/gen_commands.py          # rewrite docs/commands.md
    python docs/gen_commands.py --check  # exit 1 if docs/commands.md differs from what it would write

One section per command and subcommand, in the order `nnctl --help` lists them (hidden commands
left out), each the text `nnctl ... --help` prints at a fixed width of 100 columns, so the file is
the same on every machine. `tests/test_docs.py` regenerates it in memory and fails when it drifts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

WIDTH = 100
OUTPUT = Path(__file__).resolve().parent / "commands.md"
STALE = "docs/commands.md is stale: run python docs/gen_commands.py"

HEADER = """\
# Command reference

Every `nnctl` command and its options, as `nnctl COMMAND --help` prints them, in the order
`nnctl --help` lists them. This page is generated: do not edit it by hand, run
`python docs/gen_commands.py` after changing a command (`tests/test_docs.py` fails while it is stale).
What the options mean in context is in the topic pages ([README](../README.md#read-on)).
"""


def _app() -> typer.Typer:
    from nnctl.cli import app

    return app


def commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every visible command's words after `nnctl`, depth first, in `--help`'s order (Typer's
    command objects are click's, vendored: a group is what has `list_commands`)."""
    yield path
    if hasattr(group, "list_commands"):
        ctx = group.context_class(group, info_name="nnctl")
        for name in group.list_commands(ctx):
            sub = group.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from commands(sub, (*path, name))


def help_text(app: typer.Typer, words: tuple[str, ...]) -> str:
    """What `nnctl WORDS --help` prints on a terminal WIDTH columns wide."""
    env = {"COLUMNS": str(WIDTH), "LINES": "50", "TERM": "dumb", "NO_COLOR": "1"}
    result = CliRunner().invoke(app, [*words, "--help"], prog_name="nnctl", env=env, terminal_width=WIDTH)
    if result.exit_code != 0:
        raise RuntimeError(f"nnctl {' '.join(words)} --help exited {result.exit_code}: {result.output}")
    return "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())


def render() -> str:
    app = _app()
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)  # click falls back to the environment where a context has no width
    try:
        sections = [HEADER]
        for words in commands(typer.main.get_command(app)):
            title = " ".join(("nnctl", *words))
            sections.append(f"## {title}\n\n```text\n$ {title} --help\n{help_text(app, words)}\n```\n")
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return "\n".join(sections)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(STALE, file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
