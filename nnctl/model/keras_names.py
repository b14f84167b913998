"""Resolve config names through Keras' own registries, with did-you-mean errors.

No hand-written tables of layers, losses or optimizers: whatever the installed
Keras exports is allowed, and its names are the suggestions.
"""

from __future__ import annotations

import inspect
from typing import Any

from nnctl.backend import keras
from nnctl.config import NamedSpec, named_spec
from nnctl.errors import UserError, did_you_mean, one_line

# Layers that run code from the config or load arbitrary graphs: configs are data.
FORBIDDEN_LAYERS = {"Lambda", "TFSMLayer", "Layer", "InputLayer", "InputSpec"}


def layer_names() -> list[str]:
    layers = keras().layers
    names = [n for n in dir(layers)
             if not n.startswith("_") and n not in FORBIDDEN_LAYERS
             and isinstance(getattr(layers, n), type) and issubclass(getattr(layers, n), layers.Layer)]
    return sorted([*names, *_custom(), *application_names()])


def _custom() -> dict[str, type]:
    from nnctl.model.layers import CUSTOM

    return CUSTOM


def application_names() -> list[str]:
    apps = keras().applications
    return sorted(n for n in dir(apps) if n[:1].isupper() and callable(getattr(apps, n)))


def layer_class(name: str, key: str) -> type:
    k = keras()
    if name in FORBIDDEN_LAYERS:
        raise UserError(f"layer {name!r} is not allowed: configs are data and may not carry code", key)
    cls = getattr(k.layers, name, None) or _custom().get(name)
    if isinstance(cls, type) and issubclass(cls, k.layers.Layer):
        return cls
    raise UserError(
        f"unknown layer {name!r}{did_you_mean(name, layer_names())}; any keras.layers class, "
        "Keras Application (VGG16, MobileNetV2, ...) or Maxout is allowed",
        key,
    )


def layer_entry(entry: NamedSpec) -> tuple[str, Any]:
    """`Flatten` -> ("Flatten", None); `{Dropout: 0.5}` -> ("Dropout", 0.5)."""
    if isinstance(entry, str):
        return entry, None
    (name, value), = entry.items()
    return str(name), value


def make_layer(entry: NamedSpec, key: str) -> Any:
    """Instantiate a layer: a mapping is keyword arguments, any other value the first positional one."""
    name, value = layer_entry(entry)
    cls = layer_class(name, key)
    key = f"{key}.{name}"
    args, kwargs = ([], dict(value)) if isinstance(value, dict) else ([] if value is None else [value], {})
    for arg, v in kwargs.items():
        if arg in ("layer", "backward_layer") and isinstance(v, (str, dict)):
            kwargs[arg] = make_layer(v, f"{key}.{arg}")  # Bidirectional: {layer: {LSTM: 16}}
        elif arg.endswith(("_regularizer", "_initializer", "_constraint")) and isinstance(v, dict):
            kwargs[arg] = _keras_object(arg, v, f"{key}.{arg}")
    return construct(cls, args, kwargs, key)


def _keras_object(arg: str, spec: dict[str, Any], key: str) -> Any:
    """`kernel_regularizer: {name: l2, l2: 0.01}` -> keras.regularizers.L2(l2=0.01)."""
    k = keras()
    module = {"_regularizer": k.regularizers, "_initializer": k.initializers,
              "_constraint": k.constraints}[next(s for s in ("_regularizer", "_initializer", "_constraint")
                                                   if arg.endswith(s))]
    return _resolve(module, arg.rsplit("_", 1)[1], spec, key, keep_string=False)


def construct(cls: type, args: list[Any], kwargs: dict[str, Any], key: str) -> Any:
    params = _init_params(cls)
    for arg in kwargs:
        if params is not None and arg not in params:
            raise UserError(
                f"unknown argument {arg!r}{did_you_mean(arg, sorted(params))} for {cls.__name__}; "
                f"allowed: {', '.join(sorted(params))}",
                key,
            )
    try:
        return cls(*args, **kwargs)
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise UserError(f"{cls.__name__}{_show_args(args, kwargs)}: {one_line(e)}", key) from None


def _init_params(cls: Any) -> set[str] | None:
    """Named parameters of a factory function, or of __init__ along the class's bases.

    Keras classes forward **kwargs to their bases (Dense -> Layer, SGD -> Optimizer),
    so the bases' parameters are allowed too. None means "cannot tell": allow anything.
    """
    if not isinstance(cls, type):
        sig = inspect.signature(cls)
        if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
            return None
        return {n for n, p in sig.parameters.items() if p.kind is not p.VAR_POSITIONAL}
    named: set[str] = set()
    for base in cls.__mro__:
        init = base.__dict__.get("__init__")
        if init is None or base is object:
            continue
        params = inspect.signature(init).parameters
        named |= {n for n, p in params.items() if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            break
    if issubclass(cls, keras().layers.Layer):
        named |= {"input_shape", "batch_input_shape", "batch_size", "input_dim", "weights"}
    return named


def _show_args(args: list[Any], kwargs: dict[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"({', '.join(parts)})"


# ---------------------------------------------------------------- losses etc.


def _public(module: Any) -> list[str]:
    return [n for n in dir(module) if not n.startswith("_") and n not in ("get", "serialize", "deserialize")]


def _class_for(module: Any, fn_name: str) -> type | None:
    """`mean_squared_error` -> MeanSquaredError, to pass arguments to a loss/metric function."""
    want = fn_name.replace("_", "").lower()
    for n in dir(module):
        obj = getattr(module, n)
        if isinstance(obj, type) and n.lower() == want:
            return obj
    return None


def _resolve(module: Any, kind: str, spec: NamedSpec, key: str, keep_string: bool = True) -> Any:
    name, kwargs = named_spec(spec, key)
    try:
        obj = module.get(name)
    except (ValueError, TypeError):
        obj = None
    if obj is None:
        raise UserError(f"unknown {kind} {name!r}{did_you_mean(name, _public(module))}; "
                        f"any keras.{module.__name__.rsplit('.', 1)[-1]} name is allowed", key)
    if not kwargs and keep_string:
        return name  # Keras resolves the string itself (and picks the right accuracy)
    cls = type(obj) if not inspect.isfunction(obj) else _class_for(module, obj.__name__)
    if cls is None:
        if not kwargs:
            return obj
        raise UserError(f"{kind} {name!r} takes no arguments", key)
    return construct(cls, [], kwargs, key)


def loss(spec: NamedSpec, key: str = "loss") -> Any:
    from nnctl.model.layers import LOSSES  # nnctl's own (the slides' rmse), registered for reloading

    name, kwargs = named_spec(spec, key)
    if name in LOSSES:
        return construct(LOSSES[name], [], kwargs, key)
    return _resolve(keras().losses, "loss", spec, key)


def loss_and_metrics(loss_spec: NamedSpec, metric_specs: list[NamedSpec], metrics_key: str = "metrics",
                     loss_key: str = "loss") -> tuple[Any, list[Any]]:
    """What `model.compile` takes for the config's loss and metrics (of one output, in the graph form)."""
    return loss(loss_spec, loss_key), [metric(m, f"{metrics_key}.{i}") for i, m in enumerate(metric_specs)]


def compile_args(cfg: Any) -> tuple[Any, Any]:
    """The loss and metrics of a resolved config (a finished run's), per output in the graph form."""
    if cfg.graph is None:
        return loss_and_metrics(cfg.loss, cfg.metrics or [])
    pairs = {n: loss_and_metrics(cfg.loss[n], (cfg.metrics or {}).get(n, []), f"metrics.{n}", f"loss.{n}")
             for n in cfg.outputs}
    return {n: p[0] for n, p in pairs.items()}, {n: p[1] for n, p in pairs.items()}


def metric(spec: NamedSpec, key: str) -> Any:
    if spec in ("accuracy", "acc"):
        return "accuracy"
    return _resolve(keras().metrics, "metric", spec, key)


def optimizer(spec: NamedSpec) -> Any:
    k = keras()
    name, kwargs = named_spec(spec, "optimizer")
    try:
        obj = k.optimizers.get(name)
    except (ValueError, TypeError):
        skip = {"optimizer", "lossscaleoptimizer", "multioptimizer", "optimizermap"}
        names = sorted(n.lower() for n in _public(k.optimizers)
                       if isinstance(getattr(k.optimizers, n), type) and n.lower() not in skip)
        raise UserError(f"unknown optimizer {name!r}{did_you_mean(name, names)}; "
                        f"allowed: {', '.join(names)}", "optimizer") from None
    lr = kwargs.get("learning_rate")
    if isinstance(lr, (dict, str)):
        kwargs["learning_rate"] = schedule(lr, "optimizer.learning_rate")
    return construct(type(obj), [], kwargs, "optimizer")


def schedule(spec: NamedSpec, key: str) -> Any:
    """A learning-rate schedule by its keras.optimizers.schedules name, e.g. ExponentialDecay."""
    schedules = keras().optimizers.schedules
    name, kwargs = named_spec(spec, key)
    names = [n for n in _public(schedules) if n[:1].isupper() and n != "LearningRateSchedule"]
    cls = getattr(schedules, name, None)
    if name not in names or not isinstance(cls, type):
        raise UserError(f"unknown learning-rate schedule {name!r}{did_you_mean(name, names)}; "
                        f"allowed: {', '.join(names)}", key)
    return construct(cls, [], kwargs, key)
