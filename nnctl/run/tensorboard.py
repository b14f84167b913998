"""TensorBoard logs in RUN_DIR/tensorboard/: `tensorboard --logdir runs` shows every run.

Written with tf.summary (TensorBoard's own format and tag names, as Keras' callback uses:
`epoch_loss` under train/ and validation/), plus the resolved config as text and the
flattened config through the HParams plugin so a sweep can be compared there too.
One writer pair per process, kept open across the per-epoch fit calls.

Not Keras' TensorBoard callback: it counts epochs from 0 where history.csv counts from 1, opens
and closes its writers on every fit call (one per epoch here), and writes no HParams.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnctl.run.folder import TENSORBOARD


class Log:
    def __init__(self, run: Path, config_yaml: str, hparams: dict[str, Any], first_session: bool) -> None:
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hp

        self.root = run / TENSORBOARD
        self.train = tf.summary.create_file_writer(str(self.root / "train"))
        self.validation = tf.summary.create_file_writer(str(self.root / "validation"))
        if first_session:  # a resumed run keeps the session and text of its first start
            with tf.summary.create_file_writer(str(self.root)).as_default():
                hp.hparams({k: _scalar(v) for k, v in hparams.items()}, trial_id=run.name)
                tf.summary.text("config", f"```yaml\n{config_yaml}```", step=0)

    def epoch(self, epoch: int, logs: dict[str, float]) -> None:
        """Scalars at step = epoch (1-based, as history.csv counts)."""
        import tensorflow as tf

        for writer, keep in ((self.train, lambda k: not k.startswith("val_")), (self.validation,
                                                                              lambda k: k.startswith("val_"))):
            with writer.as_default():
                for key, value in logs.items():
                    if keep(key):
                        tf.summary.scalar(f"epoch_{key.removeprefix('val_')}", value, step=epoch)
            writer.flush()

    def close(self) -> None:
        self.train.close()
        self.validation.close()


def _scalar(value: Any) -> bool | int | float | str:
    """HParams takes bool, number or string values only."""
    return value if isinstance(value, (bool, int, float, str)) else str(value)
