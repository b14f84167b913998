"""Keras objects the course slides use but Keras lacks, registered so saved models reload.

Importing this module registers them with Keras' serialization (package "nnctl");
`keras.models.load_model` then restores them after `import nnctl.layers`, and every
nnctl command loads models through `nnctl.model.saved`, which imports it first.
"""

from __future__ import annotations

from typing import Any

from nnctl.backend import keras

K = keras()


@K.saving.register_keras_serializable(package="nnctl")
class Maxout(K.layers.Layer):
    """Maxout (Goodfellow et al., 2013): a Dense layer of units * pieces, max over each unit's pieces."""

    def __init__(self, units: int, pieces: int = 2, kernel_initializer: Any = "glorot_uniform",
                 kernel_regularizer: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1 or not isinstance(pieces, int) or pieces < 1:
            raise ValueError(f"units and pieces must be positive integers, got units={units}, pieces={pieces}")
        self.units, self.pieces = units, pieces
        self.kernel_initializer = K.initializers.get(kernel_initializer)
        self.kernel_regularizer = K.regularizers.get(kernel_regularizer)

    def build(self, input_shape: tuple) -> None:
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units * self.pieces), name="kernel",
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(shape=(self.units * self.pieces,), name="bias", initializer="zeros")

    def call(self, inputs: Any) -> Any:
        z = K.ops.matmul(inputs, self.kernel) + self.bias
        z = K.ops.reshape(z, (*K.ops.shape(z)[:-1], self.units, self.pieces))
        return K.ops.max(z, axis=-1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "pieces": self.pieces,
                "kernel_initializer": K.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": K.regularizers.serialize(self.kernel_regularizer)}


@K.saving.register_keras_serializable(package="nnctl")
class ApplicationPreprocess(K.layers.Layer):
    """Images in [0, 1] -> what a Keras Application expects, by that application's own preprocess_input.

    Grey images get three channels, since the applications are built for RGB.
    """

    def __init__(self, module: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.module = module
        self._fn = getattr(K.applications, module).preprocess_input

    def call(self, inputs: Any) -> Any:
        x = K.ops.cast(inputs, "float32") * 255.0
        if x.shape[-1] == 1:
            x = K.ops.repeat(x, 3, axis=-1)
        return self._fn(x)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], 3)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "module": self.module}


@K.saving.register_keras_serializable(package="nnctl")
class RootMeanSquaredError(K.losses.Loss):
    """The slides' rmse loss: the square root of the batch's (weighted) mean squared error.

    Keras 3 has the metric but no loss. The root is taken after the batch mean: a root per
    example would make a one-output regression's loss its mean absolute error.
    """

    def __init__(self, reduction: str = "sum_over_batch_size", name: str = "root_mean_squared_error",
                 dtype: Any = None) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return K.losses.mean_squared_error(y_true, y_pred)  # matches ranks: labels (n,) vs outputs (n, 1)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        return K.ops.sqrt(super().__call__(y_true, y_pred, sample_weight))

    def get_config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "name": self.name, "dtype": self.dtype}


@K.saving.register_keras_serializable(package="nnctl")
class FillMissing(K.layers.Layer):
    """A table's numbers with gaps (NaN): each column's gaps take its training-split value, and a 0/1
    "was missing" column is appended for each column in `indicate` (those with gaps in training).

    The values live in the config, so every export fills the same way; NaN is found as x != x,
    which TFLite and ONNX have (IsNan is not a TFLite builtin).
    """

    def __init__(self, values: list[float], indicate: list[int] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.values, self.indicate = [float(v) for v in values], [int(i) for i in indicate or []]

    def call(self, inputs: Any) -> Any:
        x = K.ops.cast(inputs, "float32")
        gaps = K.ops.not_equal(x, x)
        filled = K.ops.where(gaps, K.ops.convert_to_tensor([self.values], "float32"), x)
        if not self.indicate:
            return filled
        flags = K.ops.cast(K.ops.take(gaps, self.indicate, axis=-1), "float32")
        return K.ops.concatenate([filled, flags], axis=-1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], input_shape[-1] + len(self.indicate))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "values": self.values, "indicate": self.indicate}


@K.saving.register_keras_serializable(package="nnctl")
class FillText(K.layers.Layer):
    """A category's gaps (the `<missing>` token) replaced by its training-split mode (data.missing:
    most_frequent), before its StringLookup."""

    def __init__(self, value: str, missing: str = "<missing>", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.value, self.missing = value, missing

    def call(self, inputs: Any) -> Any:
        import tensorflow as tf  # strings: TensorFlow's own ops (nnctl runs Keras on TensorFlow)

        return tf.where(tf.equal(inputs, self.missing), tf.constant(self.value), inputs)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value": self.value, "missing": self.missing}


@K.saving.register_keras_serializable(package="nnctl")
class ScaledLoss(K.losses.Loss):
    """A regression loss on targets in units of their training-split standard deviation, for a
    model whose last layer (`TARGET_UNITS`) multiplies its outputs back into the target's units.

    The losses it wraps depend only on y_true - y_pred, so dividing both by the scale is the loss
    of the standardised problem: gradients of unit size whatever the target's units (SGD included),
    while predictions and metrics stay in the target's units.
    """

    def __init__(self, loss: Any, scale: list[float], name: str | None = None, **kwargs: Any) -> None:
        if isinstance(loss, (str, dict)):
            loss = K.losses.get(loss)  # a name gives Keras' loss function, a mapping a Loss object
        self.inner = loss
        self.scale = [float(s) for s in scale]
        super().__init__(name=name or f"scaled_{getattr(loss, 'name', None) or getattr(loss, '__name__', 'loss')}")

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        s = K.ops.convert_to_tensor(self.scale if len(self.scale) > 1 else self.scale[0], "float32")
        y_true, y_pred = K.ops.cast(y_true, "float32") / s, K.ops.cast(y_pred, "float32") / s
        if isinstance(self.inner, K.losses.Loss):  # its own reduction (nnctl's rmse takes the root after it)
            return self.inner(y_true, y_pred, sample_weight)
        return super().__call__(y_true, y_pred, sample_weight)

    def call(self, y_true: Any, y_pred: Any) -> Any:  # a loss function: one value per example
        return self.inner(y_true, y_pred)

    def get_config(self) -> dict[str, Any]:
        return {"loss": K.losses.serialize(self.inner), "scale": self.scale, "name": self.name}


CUSTOM = {"Maxout": Maxout}
# Loss names the slides use that Keras 3 lacks; `rmse` is also translated with a warning (keras2.py).
LOSSES = {"root_mean_squared_error": RootMeanSquaredError, "RootMeanSquaredError": RootMeanSquaredError}
