"""Plain-text lines the CLI shows and the core's progress reports share (epochs, split sizes, precision, tables)."""

from __future__ import annotations


def fmt(value: float) -> str:
    return f"{value:.4g}" if abs(value) >= 1000 or (value and abs(value) < 1e-3) else f"{value:.4f}"


def epoch_line(epoch: int, epochs: int, logs: dict[str, float], seconds: float) -> str:
    """`epoch 3/12  loss 0.1234  accuracy 0.9612  val_loss 0.1500 ...  4.1s`"""
    width = len(str(epochs))
    parts = [f"epoch {epoch:>{width}}/{epochs}"]
    parts += [f"{k} {fmt(v)}" for k, v in logs.items() if k != "learning_rate"]
    parts.append(f"{seconds:.1f}s")
    return "  ".join(parts)



def sizes_line(sizes: dict[str, int]) -> str:
    """`3,600 train / 400 validation / 1,000 test`"""
    return f"{sizes['train']:,} train / {sizes['val']:,} validation / {sizes['test']:,} test"


def precision_line(info: dict[str, str]) -> str:
    """The one line train and validate print: `precision: POLICY (REQUESTED: REASON)`."""
    return f"precision: {info['policy']} ({info['requested']}: {info['reason']})"


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return fmt(value)
    return str(value)


def aligned(columns: list[str], rows: list[list[object]]) -> list[str]:
    """A plain text table, numbers right-aligned: fast on thousands of rows and easy to grep."""
    text = [[cell(v) for v in row] for row in rows]
    numeric = [all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) for i in range(len(columns))]
    widths = [max([len(c), *(len(r[i]) for r in text)]) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    return [line(columns), *(line(r) for r in text)]
