"""Keras Applications (VGG16, ResNet50, MobileNetV2, ...) as one entry of the layer stack.

The entry becomes: an optional Resizing to `input_size`, the application's own
preprocess_input (on images in [0, 1], grey ones made RGB), and the network itself
with `trainable` or `fine_tune_from` applied. Everything else is the application's
own arguments (weights, include_top, pooling, alpha, ...).
"""

from __future__ import annotations

import contextlib
import io
import types
from pathlib import Path
from typing import Any

from nnctl.backend import keras
from nnctl.errors import UserError, one_line
from nnctl.model.keras_names import application_names, construct

OWN_KEYS = ("trainable", "fine_tune_from", "input_size", "preprocess")


def is_application(name: str) -> bool:
    return name in application_names()


def module_of(name: str) -> str:
    """The keras.applications sub-module that defines `name` (VGG16 -> vgg16), for its preprocess_input."""
    apps = keras().applications
    for mod in sorted(dir(apps)):
        m = getattr(apps, mod)
        if isinstance(m, types.ModuleType) and hasattr(m, name) and hasattr(m, "preprocess_input"):
            return mod
    raise UserError(f"no preprocess_input found for {name}")


def layers(name: str, value: Any, shape: tuple, key: str) -> list[Any]:
    from nnctl.model.layers import ApplicationPreprocess

    k = keras()
    if value is not None and not isinstance(value, dict):
        raise UserError(f"{name} takes a mapping of arguments, e.g. {{weights: null, include_top: false}}", key)
    kwargs = dict(value or {})
    own = {o: kwargs.pop(o) for o in OWN_KEYS if o in kwargs}
    if len(shape) != 4:
        raise UserError(f"{name} needs images (height, width, channels), its input has shape {shape}", key)
    weights = kwargs.get("weights", "imagenet")
    if weights not in (None, "imagenet"):
        if not Path(str(weights)).is_file():
            raise UserError(f"weights file not found: {weights}", f"{key}.weights")
        kwargs["weights"] = str(weights)
    out: list[Any] = []
    h, w = shape[1], shape[2]
    if own.get("input_size") is not None:
        size = own["input_size"]
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
            raise UserError(f"bad value {size}: must be [HEIGHT, WIDTH]", f"{key}.input_size")
        h, w = size
        out.append(k.layers.Resizing(h, w, name=f"{name.lower()}_resize"))
    channels = shape[3]
    if own.get("preprocess", True):
        out.append(ApplicationPreprocess(module_of(name), name=f"{name.lower()}_preprocess"))
        channels = 3
    try:
        # Keras prints download progress on stdout, which belongs to nnctl's results.
        with contextlib.redirect_stdout(io.StringIO()):
            app = construct(getattr(k.applications, name), [], {"input_shape": (h, w, channels), **kwargs}, key)
    except UserError as e:
        raise UserError(f"{one_line(e)}; set input_size: [HEIGHT, WIDTH] if the images are too small "
                        f"for {name}", key) from None
    except Exception as e:  # noqa: BLE001  (Keras raises a bare Exception when a download fails)
        raise UserError(f"{name} with weights: imagenet needs the network or the weights file in "
                        f"~/.keras/models ({one_line(e)[:160]}); use weights: null to train from scratch, "
                        "or weights: PATH for a local weights file", f"{key}.weights") from None
    app.trainable = bool(own.get("trainable", True))
    start = own.get("fine_tune_from")
    if start is not None:
        names = [layer.name for layer in app.layers]
        if isinstance(start, str):
            if start not in names:
                raise UserError(f"no layer {start!r} in {name}", f"{key}.fine_tune_from")
            start = names.index(start)
        if not isinstance(start, int) or not 0 <= start < len(names):
            raise UserError(f"bad value {start!r}: a layer index 0..{len(names) - 1} or name", f"{key}.fine_tune_from")
        app.trainable = True
        for layer in app.layers[:start]:
            layer.trainable = False
    out.append(app)
    return out
