"""The config spec: load YAML safely, apply --set overrides, validate the schema.

Nothing here imports TensorFlow: a broken file is reported before Keras loads.
Names of Keras objects (layers, losses, ...) are checked later, in keras_names.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from nnctl.choices import TASKS
from nnctl.config.compose import compose, origin
from nnctl.config.data import DataSpec
from nnctl.config.graph import Graph, branch_layers, order, per_output
from nnctl.config.messages import first_error
from nnctl.config.overrides import Overrides, apply_overrides, flatten, items, load_yaml
from nnctl.errors import UserError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Augmentation(_Strict):
    """Keras' ImageDataGenerator vocabulary, mapped onto preprocessing layers (see augment.py)."""

    rotation_range: float = Field(0.0, ge=0, le=360)  # degrees
    width_shift_range: float = Field(0.0, ge=0, lt=1)  # fraction of the width
    height_shift_range: float = Field(0.0, ge=0, lt=1)
    zoom_range: float | list[float] = 0.0  # z for [1 - z, 1 + z], or [lower, upper]
    horizontal_flip: bool = False
    vertical_flip: bool = False
    brightness_range: list[float] | None = Field(None, min_length=2, max_length=2)
    featurewise_center: bool = False
    featurewise_std_normalization: bool = False
    fill_mode: Literal["reflect", "wrap", "constant", "nearest"] = "nearest"

    @field_validator("zoom_range")
    @classmethod
    def _zoom(cls, v: float | list[float]) -> float | list[float]:
        lo, hi = (1 - v, 1 + v) if isinstance(v, (int, float)) else (tuple(v) if len(v) == 2 else (0, 0))
        if lo <= 0 or hi < lo:
            raise ValueError("must be a number in [0, 1) or [lower, upper] with 0 < lower <= upper")
        return v

    @field_validator("brightness_range")
    @classmethod
    def _brightness(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and not 0 <= v[0] <= v[1]:
            raise ValueError("must be [lower, upper] with 0 <= lower <= upper, e.g. [0.8, 1.2]")
        return v


class EarlyStopping(_Strict):
    monitor: str = "val_loss"
    patience: int = Field(3, ge=0)
    min_delta: float = Field(0.0, ge=0.0)
    mode: Literal["auto", "min", "max"] = "auto"
    restore_best_weights: bool = True


class Distribution(_Strict):
    """tf.distribute for training (see distribute.py). batch_size stays the global batch."""

    strategy: Literal["none", "mirrored", "multi_worker"] = "none"
    # mirrored: the devices to mirror over [default: every local GPU, else the CPU]. Naming more
    # CPUs than the machine shows (CPU:0, CPU:1) splits its CPU into that many logical devices.
    devices: list[str] | None = Field(None, min_length=1)
    # multi_worker: where the cluster comes from; auto takes TF_CONFIG, else a Slurm allocation.
    cluster: Literal["auto", "tf_config", "slurm"] = "auto"
    slurm_port_base: int = Field(8888, ge=1024, le=65000)
    # A worker gives up (exit 2) when its peers have not all joined by then.
    join_timeout_s: float = Field(300.0, gt=0, le=86_400)

    @field_validator("devices")
    @classmethod
    def _device_names(cls, v: list[str] | None) -> list[str] | None:
        for name in v or []:
            if not re.fullmatch(r"(/?(job:\w+/)?(replica:\d+/)?(task:\d+/)?device:)?/?(CPU|GPU|TPU):\d+", name,
                                re.IGNORECASE):
                raise ValueError(f"bad device name {name!r}: use names such as GPU:0, GPU:1 or CPU:0")
        return v


class Decision(_Strict):
    """A binary classifier's decision threshold: chosen on the validation split by `threshold_metric`,
    or fixed by `threshold` (engine/decision.py); recorded in metrics.json, applied by predict and serve."""

    threshold_metric: Literal["f1", "accuracy", "balanced_accuracy"] = "f1"
    threshold: float | None = Field(None, gt=0.0, lt=1.0)


NamedSpec = Union[str, dict[str, Any]]


class Config(_Strict):
    name: str | None = None
    seed: int = Field(42, ge=0, lt=2**32)
    task: Literal[TASKS] | None = None
    data: DataSpec
    input_shape: list[int] | None = None
    augmentation: Augmentation | None = None
    # A stack (list), or named branches (mapping) built with the functional API: config/graph.py.
    layers: Union[list[NamedSpec], Graph] = Field(min_length=1)
    loss: NamedSpec | None = None  # or, in the graph form, a mapping of output -> loss
    loss_weights: dict[str, float] | None = None
    optimizer: NamedSpec = "adam"
    metrics: Union[list[NamedSpec], dict[str, list[NamedSpec]]] | None = None
    batch_size: int = Field(32, ge=1, le=2**20)
    epochs: int = Field(10, ge=1, le=100_000)
    shuffle: bool = True
    jit_compile: bool = False  # XLA; measured 6x slower for a small CNN on CPU, so off unless asked
    # Batches per compiled call (Keras' compile argument); "auto" sizes it from the model's FLOPs.
    steps_per_execution: Union[int, Literal["auto"]] = "auto"
    distribution: Distribution = Field(default_factory=Distribution)
    # Keras' dtype policy; "auto" picks mixed_bfloat16 where it is native and faster (engine/precision.py).
    # null, as runs of earlier versions saved it, was float32.
    mixed_precision: Annotated[Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"],
                               BeforeValidator(lambda v: "float32" if v is None else v)] = "auto"
    early_stopping: EarlyStopping | None = None
    class_weight: dict[int, float] | Literal["balanced"] | None = None
    decision: Decision | None = None  # binary classifiers: the threshold [default: F1-optimal on validation]
    # How often a checkpoint is written: after every epoch, or once this many seconds of training have
    # passed since the last one (and always after the last epoch and on Ctrl-C/SIGTERM). A kill loses
    # at most that much; 10 s keeps a small table's epochs from paying a model.save each.
    checkpoint_every: Union[float, Literal["epoch"]] = 10.0
    report: bool = Field(True, description="write report.html, the run's one-page report, into the run folder at "
                         "the end (`nnctl report RUN` writes one any time)")
    importance: bool = Field(True, description="score each input column's permutation importance on the validation "
                             "split into evaluation.json (tables and named inputs; the report shows it)")
    # Keras 2 spellings translated on loading (keras2.py): warnings for the user, not config keys.
    _translations: list[str] = PrivateAttr(default_factory=list)

    @property
    def translations(self) -> list[str]:
        return self._translations

    @property
    def graph(self) -> Graph | None:
        """The named branches of the graph form; None for a stack."""
        return self.layers if isinstance(self.layers, dict) else None

    @property
    def outputs(self) -> list[str]:
        return list(self.data.targets or {}) if self.graph is not None else []

    @field_validator("distribution", mode="before")
    @classmethod
    def _strategy_shorthand(cls, v: Any) -> Any:
        # `distribution: mirrored` is short for `distribution: {strategy: mirrored}`.
        if v is None:
            return {}
        return {"strategy": v} if isinstance(v, str) else v

    @field_validator("steps_per_execution")
    @classmethod
    def _positive_steps(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 1 <= v <= 100_000:
            raise ValueError('must be "auto" or a whole number from 1 to 100000')
        return v

    @field_validator("checkpoint_every", mode="before")
    @classmethod
    def _interval(cls, v: Any) -> Any:
        if v == "epoch":
            return v
        try:
            seconds = float("nan") if isinstance(v, bool) else float(v)
        except (TypeError, ValueError):
            seconds = float("nan")
        if not 0 < seconds <= 86_400:  # nan too
            raise ValueError('must be "epoch" or a number of seconds above 0 (at most 86400)')
        return seconds

    @field_validator("input_shape")
    @classmethod
    def _positive_dims(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(d < 1 for d in v)):
            raise ValueError("must be a non-empty list of positive integers, e.g. [28, 28, 1]")
        return v

    @field_validator("optimizer", mode="before")
    @classmethod
    def _default_optimizer_name(cls, v: Any) -> Any:
        # `--set optimizer.learning_rate=0.01` on a config without an optimizer: tune the default one.
        if isinstance(v, dict) and "name" not in v:
            return {"name": "adam", **v}
        return v

    @field_validator("layers")
    @classmethod
    def _one_key_each(cls, v: Any) -> Any:
        if isinstance(v, list):
            _one_key_entries(v, None)
        return v


def _one_key_entries(stack: list[Any], key: str | None) -> None:
    for i, entry in enumerate(stack):
        if isinstance(entry, dict) and len(entry) != 1:
            msg = (f"entry {i} must be a layer name or a one-key mapping like {{Dense: {{units: 10}}}}, "
                   f"got keys {', '.join(map(str, sorted(entry)))}")
            if key is None:
                raise ValueError(msg)
            raise UserError(msg, f"{key}.{i}")


def check_structure(cfg: Config) -> None:
    """The graph form's names and connections, and per-output keys only where there are outputs."""
    if cfg.data.folds is not None and cfg.data.fold is None and cfg.distribution.strategy == "multi_worker":
        # Folds train one after another in one process; a multi_worker cluster forms once per process.
        raise UserError("cross-validation trains its folds in one process, and multi_worker needs a new process "
                        "per training: train each fold as its own run (--set data.fold=1 ... data.fold=K) or use "
                        "strategy: mirrored", "data.folds")
    if cfg.graph is None:
        if cfg.data.targets is not None:
            raise UserError("named targets need layers as a mapping of named branches (the graph form), e.g. "
                            "layers: {specs: [...], mpg: {from: specs, layers: [...]}}", "data.targets")
        for name, inp in (cfg.data.inputs or {}).items():  # the stack form: a table column's type
            if inp.columns is not None or inp.array is not None:
                raise UserError("in the stack form data.inputs gives a table column its type, e.g. "
                                f"{{{name}: {{type: category}}}}; several columns or arrays need the graph form",
                                f"data.inputs.{name}")
        for key in ("loss_weights",):
            if getattr(cfg, key) is not None:
                raise UserError("loss_weights weigh the outputs of a graph; this model has one output", key)
        if isinstance(cfg.metrics, dict):
            raise UserError("a mapping of output -> metrics is for the graph form; give a list, e.g. [accuracy]",
                            "metrics")
        return
    for name, branch in cfg.graph.items():
        stack, inner = branch_layers(branch)
        _one_key_entries(stack, f"layers.{name}{inner}")
    order(cfg.graph, cfg.data.inputs, cfg.data.targets)
    for key in ("target", "text", "features", "labels", "sequence_length"):
        if getattr(cfg.data, key) is not None:
            raise UserError(f"data.{key} is for the stack form; the graph form names its inputs and targets "
                            "in data.inputs and data.targets", f"data.{key}")
    outputs = cfg.outputs
    for key in ("loss", "loss_weights", "metrics"):
        value = getattr(cfg, key)
        if per_output(value, outputs, key) is None and key != "loss" and value is not None:
            raise UserError(f"in the graph form {key} is a mapping keyed by output ({', '.join(outputs)})", key)


def named_spec(spec: NamedSpec, key: str) -> tuple[str, dict[str, Any]]:
    """Split `adam` or `{name: adam, learning_rate: 0.01}` into (name, kwargs)."""
    if isinstance(spec, str):
        return spec, {}
    kwargs = dict(spec)
    name = kwargs.pop("name", None)
    if not isinstance(name, str):
        raise UserError("a mapping needs a 'name' key, e.g. {name: adam, learning_rate: 0.001}", key)
    return name, kwargs


# ---------------------------------------------------------------- loading


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML mapping with yaml.safe_load: configs are data, never code."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"config file not found: {p}")
    if p.is_dir():
        raise UserError(f"config path is a directory, not a YAML file: {p}")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{p}: not UTF-8 text (bad byte at offset {e.start})") from None
    try:
        data = load_yaml(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"{p}: invalid YAML{where}: {e.problem}") from None
    except yaml.YAMLError as e:
        raise UserError(f"{p}: invalid YAML: {e}") from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise UserError(f"{p}: the config must be a YAML mapping of keys, got {kind}")
    return data


def composed(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """A config file with its `extends:` chain merged (config/compose.py), and where each key came from."""
    return compose(path, read_yaml)


def load_config(source: str | os.PathLike[str] | Mapping[str, Any], overrides: Overrides = None) -> Config:
    """Load (a YAML file with its `extends:` bases, or a mapping as Python gives it), override,
    translate Keras 2 spellings and validate; a file's stem is the default name. An error in a key
    that a base wrote names that file."""
    from nnctl.config.keras2 import translate

    origins: dict[str, str] = {}
    if isinstance(source, Mapping):
        data = apply_overrides(copy.deepcopy(dict(source)), overrides)
    else:
        data, origins = composed(Path(source))
        data = apply_overrides(data, overrides)
    notes = translate(data)
    try:
        cfg = validate(data)
    except UserError as e:
        wrote = origin(origins, e.key)  # a base's key: name the base
        if wrote is None or wrote == str(source) or any(item.partition("=")[0].strip() == e.key
                                                        for item in items(overrides)):
            raise
        raise UserError(f"{e.message} (written in {wrote})", e.key) from None
    cfg._translations = notes
    if cfg.name is None:
        cfg.name = "run" if isinstance(source, Mapping) else Path(source).stem
    return cfg


def validate(data: dict[str, Any]) -> Config:
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        key, _, message = first_error(e, Config).partition(": ")
        raise UserError(message, key) from None
    check_structure(cfg)
    return cfg


def dump_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The dotted keys whose values differ between two configs."""
    fa, fb = flatten(a), flatten(b)
    return [k for k in dict.fromkeys([*fa, *fb]) if fa.get(k, _MISSING) != fb.get(k, _MISSING)]


_MISSING = object()
