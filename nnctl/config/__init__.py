"""The experiment config: its pydantic schema, YAML loading with --set overrides, and the
translation of the course's Keras 2 spelling. Nothing here imports TensorFlow."""

from nnctl.config.experiment import (
    Augmentation,
    Config,
    DataSpec,
    Distribution,
    EarlyStopping,
    NamedSpec,
    apply_overrides,
    differences,
    dump_yaml,
    flatten,
    load_config,
    load_yaml,
    named_spec,
    parse_override,
    read_yaml,
    validate,
)

__all__ = ["Augmentation", "Config", "DataSpec", "Distribution", "EarlyStopping", "NamedSpec", "apply_overrides",
           "differences", "dump_yaml", "flatten", "load_config", "load_yaml", "named_spec", "parse_override",
           "read_yaml", "validate"]
