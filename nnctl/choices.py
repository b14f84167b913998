"""The fixed vocabularies nnctl's options and config keys choose from, in one place.

Plain enums with no imports: the CLI builds its `--task` and `--format` choices from them
without paying for pydantic or TensorFlow, and the config schema takes its `task` values here.
"""

from __future__ import annotations

from enum import Enum


class Task(str, Enum):
    classification = "classification"  # one class per example, softmax
    binary = "binary"  # two classes, one sigmoid unit
    multilabel = "multilabel"  # any number of tags per example, a sigmoid each
    regression = "regression"  # numbers


TASKS: tuple[str, ...] = tuple(t.value for t in Task)
SINGLE_LABEL: tuple[str, ...] = (Task.classification.value, Task.binary.value)  # class_weight, confusion matrix


class ExportFormat(str, Enum):
    keras = "keras"
    saved_model = "saved_model"
    tflite = "tflite"
    onnx = "onnx"


FORMATS: tuple[str, ...] = tuple(f.value for f in ExportFormat)
