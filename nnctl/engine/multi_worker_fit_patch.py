"""Workaround for keras-team/keras issue 20585: `model.fit` under MultiWorkerMirroredStrategy
with 2 or more workers fails with Keras 3 on TensorFlow (seen with Keras 3.15, TF 2.21).

Two places in keras/src/backend/tensorflow/trainer.py go wrong, both only with
collective (multi-worker) strategies:

1. `TensorFlowTrainer._maybe_symbolic_build` takes the first distributed batch and calls
   `strategy.reduce("MEAN", batch, axis=None)` on it, only to learn its shapes and dtypes.
   Across workers that is a collective over a nested (x, y) structure with integer labels,
   which fails. Fixed: the first local replica's values carry the same shapes and dtypes.
2. `reduce_per_replica(..., reduction="mean")` reduces every log with
   `strategy.reduce("MEAN", v, axis=0)`; the logs (loss, metrics) are scalars, and a scalar
   has no axis 0. Fixed: scalars are reduced with axis=None.

`apply()` is called by distribute.py only when `multi_worker` is set up; a single process
never runs this code. tests/test_distribute.py fails when Keras no longer needs it (the
unpatched 2-worker run succeeds) or when it stops working.
"""

from __future__ import annotations

from typing import Any

_APPLIED: list[bool] = []


def apply() -> None:
    if _APPLIED:
        return
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    original_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction not in ("auto", "mean") or not trainer._collective_all_reduce_multi_worker(strategy):
            return original_reduce(values, strategy, reduction)

        def mean(v: Any) -> Any:
            local = strategy.experimental_local_results(v)[0] if trainer._is_per_replica_instance(v) else v
            return strategy.reduce("MEAN", v, axis=None if local.shape.rank == 0 else 0)

        return tree.map_structure(mean, values)

    def _maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tree.map_structure(
                    lambda v: self.distribute_strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues) else v, batch)
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    trainer.reduce_per_replica = reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    _APPLIED.append(True)
