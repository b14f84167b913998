"""The README and the pages under docs/ say what nnctl does: CI runs the README's set-up commands,
every link between the pages resolves, every `nnctl` command line in them names real commands and
options (and its `--set` keys exist in the config it names), their YAML configs validate, and the
Python names they use exist. In-process and without training: a few seconds."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest
import typer
import yaml

from conftest import REPO
from nnctl.cli import app

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    test_cmd = next(line for line in ci.splitlines() if "pytest" in line)
    assert test_cmd in readme
    assert "pip install -e . && nnctl train configs/mnist.yaml" in readme


def test_the_readme_is_short_and_every_page_starts_with_a_summary() -> None:
    assert len((REPO / "README.md").read_text().splitlines()) <= 250
    for page in PAGES[1:]:
        lines = page.read_text().splitlines()
        paragraph = lines[2] and not lines[2].startswith(("#", "```", "|", "- "))
        assert lines[0].startswith("# ") and lines[1] == "" and paragraph, \
            f"{page.name}: a title, then a paragraph that says what the page covers"


# --- what the pages hold --------------------------------------------------------------------------

def rel(page: Path) -> str:
    return str(page.relative_to(REPO))


def blocks(*langs: str) -> list[tuple[str, str]]:
    """(page:line, text) of every fenced block in one of `langs`."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for m in FENCE.finditer(text):
            if m.group(1) in langs:
                found.append((f"{rel(page)}:{text.count(chr(10), 0, m.start()) + 1}", m.group(2)))
    return found


def prose(page: Path) -> str:
    return FENCE.sub("", page.read_text())


def inline_code() -> list[tuple[str, str]]:
    return [(rel(page), span) for page in PAGES for span in re.findall(r"`([^`\n]+)`", prose(page))]


# --- links ----------------------------------------------------------------------------------------

def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", prose(page), re.MULTILINE):
        base = slug(heading)
        found.add(base if base not in seen else f"{base}-{seen[base]}")
        seen[base] = seen.get(base, 0) + 1
    return found


def links() -> list[tuple[Path, str]]:
    return [(page, target) for page in PAGES
            for target in re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", prose(page))]


def test_the_pages_are_found() -> None:
    names = {p.name for p in PAGES}
    assert {"README.md", "configs.md", "data.md", "graph.md", "sweeps.md", "serving.md", "reports.md", "runs.md",
            "distributed.md", "precision.md", "api.md", "contributing.md", "commands.md"} <= names
    assert len(links()) > 50 and len(blocks("sh")) > 5 and len(blocks("yaml")) > 5


def test_every_link_between_the_pages_resolves() -> None:
    broken = []
    for page, target in links():
        if re.match(r"[a-z]+:", target):  # https://, mailto: ...
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{rel(page)}: {target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{rel(page)}: {target} (no heading #{anchor} in {dest.name})")
    assert broken == []


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(REPO / t.partition("#")[0]).resolve() for p, t in links() if p.name == "README.md"}
    assert [rel(p) for p in PAGES[1:] if p.resolve() not in linked] == []


# --- nnctl command lines --------------------------------------------------------------------------

ROOT = typer.main.get_command(app)
STOP = {"|", "||", "&", "&&", ";", ">", ">>", "<", "(", ")", "2>", "2>&1"}
LAUNCHERS = {"srun", "exec", "time", "env", "nohup"}  # words before a command (not `ruff check nnctl`)


def command_lines() -> list[tuple[str, list[str]]]:
    """Every `nnctl ...` command in the pages' shell blocks and inline code: (where, its words)."""
    texts = [(where, line) for where, block in blocks("sh", "bash")
             for line in block.replace("\\\n", " ").splitlines()]
    texts += [(where, span) for where, span in inline_code() if span.startswith("nnctl ")]
    found = []
    for where, text in texts:  # grows while it runs: quoted commands inside a line
        lex = shlex.shlex(text, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        try:
            words = list(lex)
        except ValueError:  # a quote that a line of a multi-line command opens (curl's JSON body)
            continue
        texts += [(where, word) for word in words if "nnctl " in word]  # sbatch --wrap 'nnctl sweep ...'
        for i, word in enumerate(words):
            if word == "nnctl" and (i == 0 or words[i - 1] in STOP | LAUNCHERS or "=" in words[i - 1]):
                rest = words[i + 1:]
                end = next((j for j, w in enumerate(rest) if w in STOP), len(rest))
                found.append((where, rest[:end]))
    return found


def options(command: object) -> set[str]:
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}


def resolve(words: list[str]) -> tuple[object, list[str], list[str]]:
    """The command the words name, its path, and the words after it."""
    command, path, i = ROOT, [], 0
    while i < len(words):
        word = words[i]
        if word.startswith("-") and word.split("=")[0] in options(command):
            i += 1
            continue
        if not hasattr(command, "list_commands") or word.startswith(("-", "[")) or word.isupper():
            break  # past the command, or a placeholder (`nnctl COMMAND --help`)
        sub = command.get_command(command.context_class(command), word)
        if sub is None:
            raise AssertionError(f"nnctl {' '.join(path + [word])}: no such command")
        command, path, i = sub, [*path, word], i + 1
    return command, path, words[i:]


def test_the_command_lines_are_found() -> None:
    commands = {" ".join(resolve(words)[1]) for _, words in command_lines()}
    assert {"train", "sweep", "predict", "serve", "export", "convert", "runs", "config show"} <= commands


def test_every_command_line_names_real_commands_and_options() -> None:
    wrong = []
    for where, words in command_lines():
        try:
            command, path, rest = resolve(words)
        except AssertionError as e:
            wrong.append(f"{where}: {e}")
            continue
        for word in rest:
            option = word.strip("[]").removesuffix("...").split("=")[0]
            if re.fullmatch(r"--?[a-zA-Z][\w-]*", option) and option not in options(command):
                wrong.append(f"{where}: nnctl {' '.join(path)} has no option {option}")
    assert wrong == []


def set_items(rest: list[str]) -> list[str]:
    """A command line's --set items, and each --grid key with its first value (simple values only)."""
    found = []
    for flag, value in zip(rest, rest[1:], strict=False):
        if flag in ("--set", "-s"):
            found.append(value)
        elif flag == "--grid" and not re.search(r"[{\[]", value):
            found.append(value.split(",")[0])
    return found


def config_commands() -> list[tuple[str, Path, list[str]]]:
    found = []
    for where, words in command_lines():
        _, path, rest = resolve(words)
        configs = [REPO / w for w in rest if w.endswith(".yaml") and (REPO / w).is_file()]
        if path and path[0] in ("train", "validate", "summary", "sweep", "config") and configs and set_items(rest):
            found.append((where, configs[0], set_items(rest)))
    return found


def test_the_pages_set_keys_that_their_configs_have(cli) -> None:
    """`--set` and `--grid` keys in the pages' commands exist in the config they name: each command's
    items applied through `nnctl config show` (no TensorFlow, no data)."""
    assert len(config_commands()) >= 3
    for where, config, items in config_commands():
        r = cli("config", "show", config, *[a for item in items for a in ("--set", item)])
        assert r.exit_code == 0, f"{where}: {r.stderr}"


# --- configs --------------------------------------------------------------------------------------

def yaml_blocks() -> list[tuple[str, object]]:
    return [(where, yaml.safe_load(text)) for where, text in blocks("yaml")]


def complete(doc: object) -> bool:
    return isinstance(doc, dict) and "data" in doc and "layers" in doc


@pytest.mark.parametrize("where,doc", [(w, d) for w, d in yaml_blocks() if complete(d)], ids=lambda v: str(v)[:40])
def test_every_whole_config_in_the_pages_validates(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    where: str, doc: dict) -> None:
    """A config with `data` and `layers` passes `nnctl validate` as written, run from the repository's
    root (its data paths are written from there)."""
    path = tmp_path / "example.yaml"
    path.write_text(yaml.safe_dump(doc))
    monkeypatch.chdir(REPO)
    r = cli("validate", path)
    assert r.exit_code == 0, f"{where}: {r.stderr}"


IRIS = {"data": {"source": "iris"},
        "layers": [{"Dense": {"units": 8, "activation": "relu"}}, {"Dense": {"units": 3, "activation": "softmax"}}]}


def test_every_config_fragment_in_the_pages_passes_the_schema() -> None:
    """A block of some keys (not a whole config, not an `extends:` file) passes the config's schema
    written over a small whole config: its keys exist and its values are allowed."""
    from nnctl.config import load_config
    from nnctl.errors import UserError

    fragments = [(w, d) for w, d in yaml_blocks() if isinstance(d, dict) and not complete(d) and "extends" not in d]
    assert len(fragments) >= 3
    wrong = []
    for where, doc in fragments:
        try:
            load_config({**IRIS, **doc})
        except UserError as e:
            wrong.append(f"{where}: {e.key}: {e}")
    assert wrong == []


# --- Python ---------------------------------------------------------------------------------------

def python_names() -> list[tuple[str, str]]:
    found = [(where, name) for where, code in blocks("python")
             for name in re.findall(r"(?<![\w/.])nnctl(?:\.[A-Za-z_]\w*)+", code)]
    found += [(where, name) for where, span in inline_code()
              for name in re.findall(r"(?<![\w/.$=])nnctl(?:\.[A-Za-z_]\w*)+", span)
              if name.rsplit(".", 1)[-1] not in ("json", "yaml", "py", "md", "png", "html")]
    return found


def test_the_python_examples_compile_and_their_names_exist() -> None:
    for where, code in blocks("python"):
        compile(code, where, "exec")
    names = python_names()
    assert len(names) > 10
    missing = []
    for where, name in names:
        parts = name.split(".")
        obj: object = importlib.import_module(parts[0])
        for i, part in enumerate(parts[1:], start=2):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                try:
                    obj = importlib.import_module(".".join(parts[:i]))
                except ImportError:
                    missing.append(f"{where}: {name}")
                    break
    assert missing == []
