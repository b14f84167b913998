"""What the engine tells whoever shows a run's progress (the CLI): the core never prints."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    """What the CLI shows while training; the core never prints."""

    def start(self, epochs: int, steps: int) -> None: ...
    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None: ...
    def epoch(self, epoch: int, logs: dict[str, float], seconds: float) -> None: ...
    def note(self, message: str) -> None: ...
    def end(self) -> None: ...


class NullReporter:
    def start(self, epochs: int, steps: int) -> None:
        pass

    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None:
        pass

    def epoch(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def end(self) -> None:
        pass
