"""Typed exceptions. The CLI turns them into one message and an exit code."""

from __future__ import annotations


class NnctlError(Exception):
    """Base class: an error nnctl can explain in one line."""

    exit_code = 2


class UserError(NnctlError):
    """The user's input is wrong (config, data, arguments): exit 2."""

    exit_code = 2

    def __init__(self, message: str, key: str | None = None) -> None:
        self.key = key
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
