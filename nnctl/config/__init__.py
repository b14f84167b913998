"""The experiment config: its pydantic schema, YAML loading with --set overrides, and the
translation of the course's Keras 2 spelling. Nothing here imports TensorFlow."""

from nnctl.config.experiment import (
    Augmentation,
    Config,
    DataSpec,
    Distribution,
    EarlyStopping,
    NamedSpec,
    composed,
    differences,
    dump_yaml,
    flatten,
    load_config,
    named_spec,
    read_yaml,
    validate,
)
from nnctl.config.overrides import Overrides, apply_overrides, flow, items, load_yaml, override_pairs, parse_override

__all__ = ["Augmentation", "Config", "DataSpec", "Distribution", "EarlyStopping", "NamedSpec", "Overrides",
           "apply_overrides", "composed", "differences", "dump_yaml", "flatten", "flow", "items", "load_config",
           "load_yaml", "named_spec", "override_pairs", "parse_override", "read_yaml", "validate"]
