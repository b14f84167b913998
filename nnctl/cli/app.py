"""The Typer app, its consoles and shared options, and the one place where nnctl's errors
become a message on stderr and an exit code (`App.command` wraps every command in `handled`).

The commands live in `nnctl.cli.training`, `nnctl.cli.results`, `nnctl.cli.setup` and
`nnctl.cli.serving`; each parses, calls the Python API (`nnctl.api`, imported inside its body, so
that `nnctl --help` and the config checks that fail early never pay for importing TensorFlow) and
prints. `COMMANDS` is the order `nnctl --help` lists them in.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from typer.core import TyperGroup

from nnctl.errors import NnctlError, one_line
from nnctl.version import __version__

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # progress, warnings, tables: silenced by --quiet
errors = Console(stderr=True, soft_wrap=True)  # error messages: never silenced

SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a config value by dotted path; repeatable."),
]
NoReportOpt = Annotated[
    bool, typer.Option("--no-report", help="Skip report.html (the same as --set report=false).")
]
RunsDirOpt = Annotated[
    Optional[Path], typer.Option("--runs-dir", help="Folder of run folders [default: runs, or $NNCTL_RUNS_DIR].")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """The one place where nnctl's errors become a message on stderr and an exit code."""
    try:
        yield
    except typer.Exit:
        raise
    except NnctlError as e:
        errors.print(f"error: {e}", style="red", markup=False, highlight=False)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        errors.print("interrupted", style="red")
        raise typer.Exit(130) from None
    except Exception as e:  # noqa: BLE001  (a bug in nnctl: one line, the traceback on request)
        from nnctl import backend

        if backend.VERBOSE:
            raise
        errors.print(f"error: internal error ({type(e).__name__}: {one_line(e)}); "
                  "run with --verbose for the traceback", style="red", markup=False, highlight=False)
        raise typer.Exit(1) from None


class App(typer.Typer):
    """A Typer app whose commands all end through `handled`: one message, one exit code."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().command(*args, **kwargs)

        def decorator(f: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(f)  # Typer reads the options from the wrapped signature
            def wrapped(*a: Any, **kw: Any) -> Any:
                with handled():
                    return f(*a, **kw)

            register(wrapped)
            return f

        return decorator


def new_app(help: str, cls: type[TyperGroup] = TyperGroup) -> App:
    return App(help=help, cls=cls, no_args_is_help=True, pretty_exceptions_show_locals=False,  # locals: tensors
               rich_markup_mode=None)


# The order a user meets the commands in (what `nnctl --help` lists), not the order their modules register.
COMMANDS = ["train", "validate", "summary", "evaluate", "predict", "export", "runs", "sweep", "plot", "report",
            "serve", "init", "datasets", "config", "schema", "convert", "daemon"]


class InOrder(TyperGroup):
    """The top-level group, listing its commands in COMMANDS' order (any other last)."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: COMMANDS.index(n) if n in COMMANDS else len(COMMANDS))


app = new_app("Train Keras models from YAML experiment configs.", InOrder)


def _version(value: bool) -> None:
    if value:
        out.print(f"nnctl {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show TensorFlow's own log lines.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only errors and the final result line; no progress.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    no_daemon: Annotated[bool, typer.Option(
        "--no-daemon", help="Run in this process, not in the warm nnctl server (as NNCTL_DAEMON=0); "
                            "the `nnctl` entry point reads it before this app starts.")] = False,
) -> None:
    import signal

    from nnctl import backend

    # SIGTERM ends nnctl as Ctrl-C does (exit 130, run marked interrupted), not silently by the signal.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    backend.VERBOSE = verbose
    err.quiet = quiet
    if not verbose:
        import warnings

        # Keras' Python warnings speak of its internals; nnctl reports what matters in its own words.
        warnings.simplefilter("ignore")


def warn(messages: list[str]) -> None:
    for m in messages:
        err.print(f"warning: {m}", style="yellow", markup=False, highlight=False)


def run() -> None:
    """The `nnctl` command in this process (the warm server's children call `invoke` and `finish`)."""
    code = invoke(sys.argv[1:])
    if "tensorflow" not in sys.modules:
        sys.exit(code)
    finish()
    os._exit(code)


def invoke(argv: list[str]) -> int:
    """Run one command line; its exit code (a message Typer exits with goes to stderr, code 1)."""
    try:
        app(args=argv, prog_name="nnctl")
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            return 1
        return e.code or 0
    return 0


def finish() -> None:
    """What a normal exit runs first (atexit: logging, multiprocessing) and the streams flushed.

    Once TensorFlow is loaded the process then ends with os._exit: freeing TensorFlow's modules and
    C++ state takes about a second (0.96 s after a bare `import keras`, against 0.05 s this way) and
    writes nothing, since by now every run file is closed and renamed into place.
    """
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
