"""The command line: parsing and printing only; every command calls the Python API (`nnctl.api`)."""

from nnctl.cli import results, serving, setup, training  # noqa: F401  (each registers its commands on `app`)
from nnctl.cli.app import app, run

__all__ = ["app", "run"]
