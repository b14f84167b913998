"""`--set KEY=VALUE` overrides (and their Python form, a mapping of dotted keys) applied to a
config's data before it is validated."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Union

import yaml

from nnctl.errors import UserError


class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """yaml.safe_load's loader (libyaml's where installed), reading `1e-3` as a number as YAML 1.2 does.

    PyYAML follows YAML 1.1, where a float needs a dot (`1.0e-3`) and `1e-3` is a
    string: the most common way to write a learning rate would silently be text.
    """


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str) -> Any:
    """Parse YAML data: safe (no tags that build Python objects), with YAML 1.2 floats."""
    return yaml.load(text, Loader=Loader)  # noqa: S506  (Loader is a SafeLoader)


Overrides = Union[list[str], Mapping[str, Any], None]  # `--set` items, or {dotted key: value} from Python


def flow(value: Any) -> str:
    """A value as a one-line YAML scalar or flow collection, as --set parses it back."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("...").strip()


def items(overrides: Overrides) -> list[str]:
    """Overrides as `KEY=VALUE` items, whichever form they came in."""
    return [f"{k}={flow(v)}" for k, v in override_pairs(overrides)] if isinstance(overrides, Mapping) else \
        list(overrides or [])


def parse_override(item: str) -> tuple[str, Any]:
    """`a.b=1` -> ("a.b", 1); the value is parsed as YAML so numbers stay numbers."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set {item!r}: expected KEY=VALUE, e.g. --set optimizer.learning_rate=0.01")
    try:
        parsed = load_yaml(value) if value.strip() else None
    except yaml.YAMLError:
        raise UserError(f"--set {item!r}: the value is not valid YAML") from None
    return key.strip(), parsed


def override_pairs(overrides: Overrides) -> list[tuple[str, Any]]:
    """(dotted key, value) pairs from `KEY=VALUE` items (values parsed as YAML) or a mapping (as given)."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return [(str(k), v) for k, v in overrides.items()]
    return [parse_override(item) for item in overrides]


def apply_overrides(data: dict[str, Any], overrides: Overrides) -> dict[str, Any]:
    """Set dotted keys in place; list items by index (`layers.2.Dense.units=256`)."""
    for key, value in override_pairs(overrides):
        parts = key.split(".")
        node: Any = data
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            here = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
                    raise UserError(f"--set: no item {part!r} in a list of {len(node)}", here)
                idx = int(part)
                if last:
                    node[idx] = value
                elif isinstance(node[idx], str):
                    # `layers.2.Dropout=0.3` on a bare `- Flatten` entry: make it a mapping.
                    node[idx] = {node[idx]: None}
                node = node[idx]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:
                        node[part] = {}
                    elif isinstance(node[part], str):
                        # `optimizer: adam` + `--set optimizer.learning_rate=0.01`: the name is short for {name: adam}.
                        node[part] = {"name": node[part]}
                    node = node[part]
            else:
                raise UserError(f"--set: cannot go into a {type(node).__name__} value", here)
    return data


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys to leaf values, in `--set` spelling: {"optimizer.learning_rate": 0.01, "layers.0.Dense.units": 8}."""
    if isinstance(data, dict) and data:
        items = data.items()
    elif isinstance(data, list) and data:
        items = ((str(i), v) for i, v in enumerate(data))
    else:
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in items:
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out
