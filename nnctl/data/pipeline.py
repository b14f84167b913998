"""The one tf.data input pipeline: in-memory arrays or memory-mapped files, batched and prefetched."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnctl import backend
from nnctl.data import Split, scale
from nnctl.data.stream import CsvRows

SHUFFLE_BUFFER = 10_000  # rows held for shuffling a streamed CSV
GATHER_CALLS = 2  # batches gathered at once from in-memory tensors
PREFETCH = 2  # batches ready ahead of the model


def dataset(split: Split, batch_size: int, shuffle: list[int] | None = None, epochs: int = 1,
            reused: bool = False) -> Any:
    """Batches of (x, y), epoch after epoch: `shuffle` gives each epoch's seed (one epoch per seed, each
    in its own reproducible order), else `epochs` times in file order. Batches never span two epochs.

    One dataset for many epochs, so that Keras iterates it without a new iterator each epoch (15-20 ms
    each for a small table; more than its arithmetic). `reused`: iterated again and again unshuffled
    (validation after every epoch): an in-memory split of at most CACHE_BYTES is gathered once and kept.
    """
    import tensorflow as tf

    if isinstance(split.x, CsvRows):
        return _csv(split, batch_size, shuffle, epochs)
    if split.streamed:
        return _streamed(split, batch_size, shuffle, epochs)
    # Batches are gathered from whole tensors by index, as Keras does for NumPy arrays: twice the
    # speed of slicing, shuffling and re-batching one example at a time (it matters for small rows).
    tensors, n = _tensors(split), len(split)
    if shuffle is None:
        order = tf.data.Dataset.range(n).batch(batch_size).repeat(epochs)
    else:
        order = _each_epoch(lambda seed: tf.data.Dataset.from_tensor_slices(
            tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=tf.stack([seed, 0])))
            .batch(batch_size), shuffle, math.ceil(n / batch_size))
    batches = order.map(backend.as_written(lambda i: tf.nest.map_structure(lambda t: tf.gather(t, i), tensors)),
                        num_parallel_calls=GATHER_CALLS, deterministic=True)
    if reused and shuffle is None and _nbytes(split) <= CACHE_BYTES:
        batches = batches.cache()
    # Fixed sizes, no autotuning: with tf.data's autotuner on, the CPUs sat idle for a quarter of
    # many epochs (Fashion-MNIST CNN: 10.3 s epochs with 6.9 core-seconds idle, against 7.2-8.1 s
    # with 1.4-1.7 idle; same CPU time). A gather is one copy: two in flight keep up with any model.
    options = tf.data.Options()
    options.autotune.enabled = False
    # Nor tf.data's graph rewrites, run on every new iterator: none applies to a gather from tensors,
    # and they cost 2-5 ms an iterator.
    options.experimental_optimization.apply_default_optimizations = False
    return batches.prefetch(PREFETCH).with_options(options)


def _each_epoch(make: Any, seeds: list[int], batches: int) -> Any:
    """`make(seed)`'s batches for each epoch's seed in turn; `batches` an epoch, as Keras is told."""
    import tensorflow as tf

    return (tf.data.Dataset.from_tensor_slices(tf.constant(seeds, tf.int64)).flat_map(backend.as_written(make))
            .apply(tf.data.experimental.assert_cardinality(batches * len(seeds))))


CACHE_BYTES = 256 * 2**20


def _nbytes(split: Split) -> int:
    import tensorflow as tf

    return sum(getattr(a, "nbytes", 0) for a in tf.nest.flatten((split.x, split.y)))


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
        call = tf.function(call, input_signature=[batches.element_spec], autograph=False)
    outs = [tf.nest.map_structure(np.asarray, call(b)) for b in batches]
    if not outs:
        return np.zeros((0,), "float32")
    return tf.nest.map_structure(lambda *parts: np.concatenate(parts), *outs)  # a mapping for several outputs


def inputs(split: Split, batch_size: int) -> Any:
    """Only the inputs, batched, for adapting preprocessing layers (strings and memory maps included)."""
    return dataset(split, batch_size).map(backend.as_written(lambda x, y: x))


def _streamed(split: Split, batch_size: int, shuffle: list[int] | None, epochs: int) -> Any:
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

    if shuffle is None:
        ds = tf.data.Dataset.from_tensor_slices(starts).repeat(epochs)
    else:
        ds = _each_epoch(lambda seed: tf.data.Dataset.from_tensor_slices(
            tf.random.experimental.stateless_shuffle(tf.constant(starts), seed=tf.stack([seed, 0]))), shuffle,
            len(starts))
    return ds.map(backend.as_written(load), num_parallel_calls=tf.data.AUTOTUNE,
                  deterministic=True).prefetch(tf.data.AUTOTUNE)


def _csv(split: Split, batch_size: int, shuffle: list[int] | None, epochs: int) -> Any:
    """Stream CSV rows; shuffling uses a bounded buffer so memory does not grow with the file."""
    import tensorflow as tf

    def rows(seed: Any = None) -> Any:
        ds = tf.data.Dataset.zip((split.x.dataset(), tf.data.Dataset.from_tensor_slices(split.y)))
        ds = ds if seed is None else ds.shuffle(min(len(split), SHUFFLE_BUFFER), seed=seed)
        return ds.batch(batch_size)

    ds = rows().repeat(epochs) if shuffle is None else _each_epoch(rows, shuffle, math.ceil(len(split) / batch_size))
    return ds.prefetch(tf.data.AUTOTUNE)
