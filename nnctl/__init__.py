"""nnctl: a YAML experiment config in, a trained Keras model out."""

__version__ = "0.1.0"
