"""How the CLI shows things: metric tables, aligned run tables, and training progress."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from nnctl.cli.app import out


def print_aligned(table: tuple[list[str], list[list]]) -> None:
    from nnctl.run.text import aligned

    header, *lines = aligned(*table)
    out.print(header, style="bold", highlight=False, markup=False)
    sys.stdout.flush()
    sys.stdout.write("".join(f"{line}\n" for line in lines))


def print_metrics(title: str, metrics: dict[str, float], console: Console) -> None:
    table = Table(title=f"{title} metrics", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in metrics.items():
        table.add_row(k, f"{v:.4f}")
    console.print(table)


class Progress:
    """Training progress on stderr: a live bar on a terminal, one plain line per epoch elsewhere."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = None
        self.task = None
        self.epochs = 0

    def start(self, epochs: int, steps: int) -> None:
        self.epochs, self.steps = epochs, steps
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), TextColumn("{task.fields[loss]}"),
                                console=self.console, transient=True)
            self.bar.start()

    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None:
        if self.bar is None:
            return
        if self.task is None or step == 1:
            if self.task is not None:
                self.bar.remove_task(self.task)
            self.task = self.bar.add_task(f"epoch {epoch}/{self.epochs}", total=self.steps, loss="")
        self.bar.update(self.task, completed=step, loss=f"loss {logs.get('loss', float('nan')):.4f}")

    def epoch(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        from nnctl.run.text import epoch_line

        line = epoch_line(epoch, self.epochs, logs, seconds)
        self.console.print(line, highlight=False, markup=False)

    def note(self, message: str) -> None:
        style = "yellow" if message.startswith("warning:") else None
        self.console.print(message, style=style, highlight=False, markup=False)

    def end(self) -> None:
        if self.bar is not None:
            self.bar.stop()
