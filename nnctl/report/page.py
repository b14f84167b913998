"""The report's page: Jinja2 with autoescaping on (every value from data or a config reaches the
HTML as text, never as markup), the run folder's figures inlined as data: URIs, and the one small
script that sorts tables. Nothing on the page is fetched: it opens from file:// or an e-mail."""

from __future__ import annotations

import base64
import functools
import math
import time
from pathlib import Path
from typing import Any

from nnctl.version import __version__

MAX_IMAGE_BYTES = 600_000  # a figure larger than this is left out, named, to keep the page small


@functools.cache
def environment() -> Any:
    """One Jinja2 environment a process, so the template is compiled once (0.9 s) and kept: the warm
    server compiles it before forking, and its commands find it compiled."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("nnctl.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = num
    return env


def num(value: Any) -> str:
    """A metric as the page shows it: 4 significant digits (the value itself sits in data-value)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—" if value is None else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.4g}" if isinstance(value, float) else f"{value:,}"


def image(path: Path) -> str | None:
    """A PNG file as a data: URI; None where it is missing or too large for the page."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return uri(data) if len(data) <= MAX_IMAGE_BYTES else None


def uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def render(title: str, kind: str, **context: Any) -> str:
    """The whole page: `kind` is run, sweep or comparison (its template's body)."""
    return environment().get_template("report.html").render(
        title=title, kind=kind, generated=time.strftime("%Y-%m-%d %H:%M:%S"), version=__version__, **context)
