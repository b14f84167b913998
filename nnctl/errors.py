"""Typed exceptions with their exit codes, and the two helpers every message uses.

The CLI turns an NnctlError into one line on stderr and its `exit_code` (in `nnctl.cli.app`).
"""

from __future__ import annotations

import difflib


class NnctlError(Exception):
    """Base class: an error nnctl can explain in one line."""

    exit_code = 2


class UserError(NnctlError):
    """The user's input is wrong (config, data, arguments): exit 2."""

    exit_code = 2

    def __init__(self, message: str, key: str | None = None) -> None:
        self.key, self.message = key, message
        super().__init__(f"{key}: {message}" if key else message)


class RunEnded(NnctlError):
    """A run that started but did not complete; `run` is its folder, `status` what metrics.json says."""

    status = "failed"

    def __init__(self, message: str, run: object = None) -> None:
        self.run = run
        super().__init__(message)


class TrainingFailed(RunEnded):
    """Training started but could not finish: exit 1."""

    exit_code = 1


class Interrupted(RunEnded):
    """Stopped by Ctrl-C or SIGTERM: exit 130."""

    exit_code = 130
    status = "interrupted"


def one_line(e: BaseException | str, limit: int = 300) -> str:
    """An exception's text on one line, cut to `limit` characters: messages are one line."""
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def did_you_mean(name: str, choices: list[str], cutoff: float = 0.6, what: str = "") -> str:
    """" (did you mean 'x'?)" for the closest choice, case-insensitively, or ""."""
    lower = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(str(name).lower(), list(lower), n=1, cutoff=cutoff)
    return f" (did you mean {what}'{lower[hits[0]]}'?)" if hits else ""
