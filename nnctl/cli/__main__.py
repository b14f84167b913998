"""`python -m nnctl.cli`: the same as the `nnctl` script."""

from nnctl.cli import run

run()
