"""Image augmentation in ImageDataGenerator's vocabulary, as Keras preprocessing layers.

The Random* layers act only in training (Keras passes inputs through unchanged at
inference), so augmentation lives inside the saved model at no cost to predict.

| ImageDataGenerator              | Keras layer                                             |
| rotation_range: degrees         | RandomRotation(factor=degrees / 360)                    |
| width/height_shift_range: f     | RandomTranslation(height_factor, width_factor)          |
| zoom_range: z or [lo, hi]       | RandomZoom((lo - 1, hi - 1)) on both axes               |
| horizontal_flip / vertical_flip | RandomFlip("horizontal" / "vertical" / both)            |
| brightness_range: [lo, hi]      | RandomBrightness((lo - 1, hi - 1), value_range=(0, 1)): |
|                                 | an added, not multiplied, shift (images are in [0, 1])  |
| featurewise_center (alone)      | Normalization(mean=training mean, variance=1)           |
| featurewise_std_normalization   | Normalization(axis=-1) adapted on the training split    |
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl.backend import keras
from nnctl.config import Augmentation
from nnctl.errors import UserError


def layers(aug: Augmentation, shape: tuple, seed: int, train_x: Any = None) -> list[Any]:
    k = keras()
    spatial = any((aug.rotation_range, aug.width_shift_range, aug.height_shift_range, aug.zoom_range,
                   aug.horizontal_flip, aug.vertical_flip))
    if spatial and len(shape) != 4:
        raise UserError(f"image augmentation needs images (height, width, channels); the inputs have shape "
                        f"{list(shape[1:])}", "augmentation")
    out = []
    if aug.featurewise_std_normalization:
        out.append(k.layers.Normalization(axis=-1, name="featurewise_normalization"))
    elif aug.featurewise_center:
        if not isinstance(train_x, np.ndarray):
            raise UserError("featurewise_center needs the training images in memory", "augmentation")
        mean = train_x.reshape(-1, train_x.shape[-1]).mean(axis=0)
        out.append(k.layers.Normalization(axis=-1, mean=mean, variance=np.ones_like(mean), name="featurewise_center"))
    fill = aug.fill_mode
    if aug.rotation_range:
        out.append(k.layers.RandomRotation(aug.rotation_range / 360, fill_mode=fill, seed=seed))
    if aug.width_shift_range or aug.height_shift_range:
        out.append(k.layers.RandomTranslation(aug.height_shift_range, aug.width_shift_range, fill_mode=fill,
                                              seed=seed + 1))
    if aug.zoom_range:
        z = aug.zoom_range
        lo, hi = (1 - z, 1 + z) if isinstance(z, (int, float)) else z
        # RandomZoom: a positive factor zooms out; ImageDataGenerator's factor > 1 zooms out too.
        out.append(k.layers.RandomZoom((lo - 1, hi - 1), (lo - 1, hi - 1), fill_mode=fill, seed=seed + 2))
    flips = [m for m, on in (("horizontal", aug.horizontal_flip), ("vertical", aug.vertical_flip)) if on]
    if flips:
        out.append(k.layers.RandomFlip("_and_".join(flips), seed=seed + 3))
    if aug.brightness_range:
        lo, hi = aug.brightness_range
        out.append(k.layers.RandomBrightness((lo - 1, hi - 1), value_range=(0, 1), seed=seed + 4))
    return out
