"""The one tf.data input pipeline: in-memory arrays or memory-mapped files, batched and prefetched."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl.data import Split, scale
from nnctl.data.stream import CsvRows

SHUFFLE_BUFFER = 10_000  # rows held for shuffling a streamed CSV
GATHER_CALLS = 2  # batches gathered at once from in-memory tensors
PREFETCH = 2  # batches ready ahead of the model


def dataset(split: Split, batch_size: int, shuffle_seed: int | None = None) -> Any:
    """Batches of (x, y); with a seed, a new reproducible order every epoch."""
    import tensorflow as tf

    if isinstance(split.x, CsvRows):
        return _csv(split, batch_size, shuffle_seed)
    if split.streamed:
        return _streamed(split, batch_size, shuffle_seed)
    # Batches are gathered from whole tensors by index, as Keras does for NumPy arrays: twice the
    # speed of slicing, shuffling and re-batching one example at a time (it matters for small rows).
    tensors, n = _tensors(split), len(split)
    if shuffle_seed is None:
        order = tf.data.Dataset.range(n)
    else:
        order = tf.data.Dataset.from_tensor_slices(
            tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=[shuffle_seed, 0]))
    batches = (order.batch(batch_size)
               .map(lambda i: tf.nest.map_structure(lambda t: tf.gather(t, i), tensors),
                    num_parallel_calls=GATHER_CALLS, deterministic=True)
               .prefetch(PREFETCH))
    # Fixed sizes, no autotuning: with tf.data's autotuner on, the CPUs sat idle for a quarter of
    # many epochs (Fashion-MNIST CNN: 10.3 s epochs with 6.9 core-seconds idle, against 7.2-8.1 s
    # with 1.4-1.7 idle; same CPU time). A gather is one copy: two in flight keep up with any model.
    options = tf.data.Options()
    options.autotune.enabled = False
    return batches.with_options(options)


def _tensors(split: Split) -> Any:
    """The split's arrays as tensors, converted once per split: from_tensor_slices copies NumPy
    arrays on every call (0.15 s per epoch for Fashion-MNIST's training split), not tensors."""
    import tensorflow as tf

    cached = getattr(split, "_tensors", None)
    if cached is None or cached[0] is not split.x:  # x is regrouped in place by fit_input_shape
        cached = (split.x, tf.nest.map_structure(tf.convert_to_tensor, (split.x, split.y)))
        split._tensors = cached
    return cached[1]


COMPILE_FROM_BATCHES = 5  # fewer: calling eagerly beats tracing (a test pass of 5 batches already gained)


def predict(model: Any, x: Any, batch_size: int) -> np.ndarray:
    """The model's outputs for in-memory inputs, batched through tf.data: Keras' array adapter
    rejects NumPy string columns (text, categorical CSV features)."""
    import tensorflow as tf

    batches = tf.data.Dataset.from_tensor_slices(x).batch(batch_size)

    def call(b: Any) -> Any:
        return model(b, training=False)

    if len(tf.nest.flatten(x)[0]) >= COMPILE_FROM_BATCHES * batch_size:
        # Traced once for the dataset's signature (batch size None), as the test pass is: eager calls
        # were 2-3x slower over 10,000 images; a few samples (export's check) stay eager.
        call = tf.function(call, input_signature=[batches.element_spec])
    outs = [tf.nest.map_structure(np.asarray, call(b)) for b in batches]
    if not outs:
        return np.zeros((0,), "float32")
    return tf.nest.map_structure(lambda *parts: np.concatenate(parts), *outs)  # a mapping for several outputs


def inputs(split: Split, batch_size: int) -> Any:
    """Only the inputs, batched, for adapting preprocessing layers (strings and memory maps included)."""
    return dataset(split, batch_size).map(lambda x, y: x)


def _streamed(split: Split, batch_size: int, shuffle_seed: int | None) -> Any:
    """Read one batch-sized block of the file at a time, so memory stays flat.

    Shuffling permutes the blocks (seeded, new order every epoch), not the rows
    inside a block: the price of never holding the file in memory.
    """
    import tensorflow as tf

    x, y, n = split.x, np.asarray(split.y), len(split)
    starts = np.arange(0, n, batch_size, dtype="int64")
    ydtype = tf.as_dtype(y.dtype)

    def read(start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = int(start)
        return scale(x.read(s, s + batch_size)), y[s:s + batch_size]

    def load(start: Any) -> tuple[Any, Any]:
        bx, by = tf.numpy_function(read, [start], [tf.float32, ydtype], stateful=False)
        bx.set_shape((None, *x.shape[1:]))
        by.set_shape((None, *y.shape[1:]))
        return bx, by

    ds = tf.data.Dataset.from_tensor_slices(starts)
    if shuffle_seed is not None:
        ds = ds.shuffle(len(starts), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)


def _csv(split: Split, batch_size: int, shuffle_seed: int | None) -> Any:
    """Stream CSV rows; shuffling uses a bounded buffer so memory does not grow with the file."""
    import tensorflow as tf

    ds = tf.data.Dataset.zip((split.x.dataset(), tf.data.Dataset.from_tensor_slices(split.y)))
    if shuffle_seed is not None:
        ds = ds.shuffle(min(len(split), SHUFFLE_BUFFER), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
