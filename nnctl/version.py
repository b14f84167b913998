"""nnctl's version, in a module of its own: run records and report pages stamp it without
importing the package's front door (nnctl/__init__.py loads the API on first use)."""

__version__ = "0.1.0"
