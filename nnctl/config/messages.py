"""A pydantic validation error as the one line the user reads: key path, bad value, what is allowed."""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from nnctl.errors import did_you_mean


def first_error(exc: ValidationError, root: type[BaseModel]) -> str:
    """One line for the first problem: key path, bad value, what is allowed."""
    errors = exc.errors()
    # A value that fits no member of a union (layers: a list or named branches) fails once per
    # member: the deepest error of the first key is the one that says what is wrong.
    err = max((e for e in errors if e["loc"][:1] == errors[0]["loc"][:1]), key=lambda e: len(e["loc"]))
    raw = [str(p) for p in err["loc"]]
    # Union members add their type names to the path (`str`, `dict[str,any]`): drop them.
    loc = [p for p in raw if not _member_name(p)]
    path = ".".join(loc) or "config"
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(raw[:-1], root)
        return f"{path}: unknown key{did_you_mean(loc[-1], allowed)}; allowed: {', '.join(allowed)}"
    if kind == "missing":
        return f"{path}: required key is missing"
    value = err.get("input")
    shown = yaml.safe_dump(value, default_flow_style=True, width=80).strip()
    if shown.endswith("\n..."):
        shown = shown[:-4]
    shown = shown.removesuffix("...").strip()
    msg = err["msg"].removeprefix("Value error, ")
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
        msg = f"must be one of {', '.join(allowed)}{did_you_mean(str(value), allowed)}"
    return f"{path}: bad value {shown[:80]}: {msg}"


def _member_name(part: str) -> bool:
    return part in ("str", "int", "Branch") or part.startswith(("dict[", "list["))


def _allowed_keys(raw: list[str], root: type[BaseModel]) -> list[str]:
    """The keys a mapping at this path takes. `raw` is pydantic's path, with union members' names
    (`Branch`) and mapping keys (`data.inputs.NAME`) in it."""
    model = root
    parts = iter(p for p in raw if not _member_name(p))
    for part in parts:
        field = model.model_fields.get(part)
        inner = _models_in(getattr(field, "annotation", None))
        if not inner:
            return []
        if inner[0][1]:  # dict[str, Model]: the next part is a key of the user's choosing
            next(parts, None)
        model = inner[0][0]
    return [f.alias or name for name, f in model.model_fields.items()]


def _models_in(ann: Any, in_dict: bool = False) -> list[tuple[type[BaseModel], bool]]:
    """The pydantic models inside an annotation, and whether each sits as a dict's values."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [(ann, in_dict)]
    args = getattr(ann, "__args__", ())
    is_dict = getattr(ann, "__origin__", None) is dict
    found: list[tuple[type[BaseModel], bool]] = []
    for a in args[1:] if is_dict else args:
        found += _models_in(a, in_dict or is_dict)
    return found
