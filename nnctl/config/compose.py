"""`extends: BASE.yaml`: a config written over its base. Mappings merge key by key, lists and
values are replaced whole, and `--set` comes last: base < file < --set. The base's path is
relative to the file that names it, chains are allowed, a cycle or a missing base is one line.
Relative data paths written in a base stay relative to the base's own folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nnctl.config.overrides import flatten
from nnctl.errors import UserError

KEY = "extends"
DATA_PATHS = ("source", "validation", "test", "labels", "path")  # data keys that may name files


def compose(path: Path, read: Any, chain: tuple[Path, ...] = ()) -> tuple[dict[str, Any], dict[str, str]]:
    """(merged mapping, {dotted key: the file that wrote it}); `read` reads one YAML mapping."""
    here = path.resolve()
    if here in chain:
        names = " -> ".join(str(p) for p in (*chain, here))
        raise UserError(f"a cycle of bases: {names}", f"{path}: {KEY}")
    data = read(path)
    base_ref = data.pop(KEY, None)
    own = {k: str(path) for k in flatten(data)}
    if base_ref is None:
        return data, own
    if not isinstance(base_ref, str) or not base_ref.strip():
        raise UserError(f"bad value {base_ref!r}: the path of a base config (relative to this file)",
                        f"{path}: {KEY}")
    base_path = Path(os.path.normpath(path.parent / base_ref))
    if not base_path.is_file():
        raise UserError(f"{base_ref}: base config not found ({base_path})", f"{path}: {KEY}")
    base, origins = compose(base_path, read, (*chain, here))
    _rebase(base, base_path.parent, path.parent)
    merged = merge(base, data)
    origins = {k: v for k, v in origins.items() if k in flatten(merged)}
    origins.update(own)
    return merged, origins


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` written over `base`: mappings key by key, anything else (lists too) replaced whole."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _rebase(base: dict[str, Any], base_dir: Path, top_dir: Path) -> None:
    """A base's relative data file, as a path from the top config's folder (which training reads from)."""
    data = base.get("data")
    if not isinstance(data, dict) or base_dir.resolve() == top_dir.resolve():
        return
    for key in DATA_PATHS:
        value = data.get(key)
        if isinstance(value, str) and not os.path.isabs(value) and (base_dir / value).exists():
            data[key] = os.path.relpath(base_dir / value, top_dir)


def origin(origins: dict[str, str], key: str | None) -> str | None:
    """The file that wrote `key` (or the nearest key above or below it)."""
    if not key:
        return None
    if key in origins:
        return origins[key]
    below = [f for k, f in origins.items() if k.startswith(key + ".")]
    if below and len(set(below)) == 1:
        return below[0]
    parts = key.split(".")
    while parts:
        parts.pop()
        if ".".join(parts) in origins:
            return origins[".".join(parts)]
    return None
