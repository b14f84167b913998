"""`import nnctl.layers` before `keras.models.load_model` of an nnctl model outside nnctl (the
README's recipe): it registers nnctl's own classes with Keras. They live in `nnctl.model.layers`."""

from nnctl.model.layers import (
    CUSTOM,
    LOSSES,
    ApplicationPreprocess,
    FillMissing,
    FillText,
    Maxout,
    RootMeanSquaredError,
)

__all__ = ["CUSTOM", "LOSSES", "ApplicationPreprocess", "FillMissing", "FillText", "Maxout", "RootMeanSquaredError"]
