"""docs/commands.md is what `python docs/gen_commands.py` writes from the commands' `--help`
today: regenerated in memory and compared, so a changed option fails here until the reference
is regenerated."""

from __future__ import annotations

import importlib.util
import re
from types import ModuleType

import pytest

from conftest import REPO


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_commands", REPO / "docs" / "gen_commands.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_command_reference_is_current() -> None:
    gen = generator()
    if gen.OUTPUT.read_text() != gen.render():
        pytest.fail(gen.STALE, pytrace=False)


def test_the_reference_does_not_depend_on_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = generator()
    wide = gen.render()
    monkeypatch.setenv("COLUMNS", "40")
    assert gen.render() == wide


def test_the_reference_has_every_command_in_help_order() -> None:
    gen = generator()
    text = gen.OUTPUT.read_text()
    sections = re.findall(r"^## nnctl ?(.*)$", text, re.MULTILINE)
    listed = re.search(r"^Commands:\n((?:  .*\n)+)", text, re.MULTILINE)
    assert listed is not None
    top = [line.split()[0] for line in listed.group(1).splitlines() if line.startswith("  ") and line[2] != " "]
    assert sections[0] == "" and [s for s in sections[1:] if " " not in s] == top
    assert "config show" in sections


def test_the_readme_links_every_command() -> None:
    readme = (REPO / "README.md").read_text()
    sections = re.findall(r"^## (nnctl .+)$", generator().OUTPUT.read_text(), re.MULTILINE)
    groups = {"nnctl config"}  # a group: its subcommands are linked
    missing = [s for s in sections if s not in groups
               and f"docs/commands.md#{s.replace(' ', '-')}" not in readme]
    assert missing == []


def test_the_stale_check_fails_on_a_changed_option(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a help text that changed no longer matches the file."""
    gen = generator()
    real = gen.help_text
    monkeypatch.setattr(gen, "help_text", lambda app, words: real(app, words).replace("--set", "--assign"))
    assert gen.render() != gen.OUTPUT.read_text()
    assert gen.main(["--check"]) == 1
