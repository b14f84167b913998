"""The Python API's contract without training: errors raised as nnctl.UserError with their key
path, nothing printed, and `import nnctl` cheap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import nnctl


@pytest.mark.parametrize(("config", "key", "words"), [
    ({"data": {"source": "iris"}, "layers": [{"Dense": {"units": 3}}], "epochz": 3}, "epochz", "did you mean"),
    ({"data": {"source": "iris"}, "layers": [{"Dense": {"units": 3}}], "batch_size": 0}, "batch_size", "0"),
    ({"data": {"source": "iris", "folds": 3}, "layers": [{"Dense": {"units": 3}}],
      "distribution": "multi_worker"}, "data.folds", "multi_worker"),
])
def test_a_bad_config_raises_user_error_with_its_key_and_prints_nothing(capfd, config: dict, key: str,
                                                                        words: str) -> None:
    for call in (nnctl.validate, nnctl.train):
        with pytest.raises(nnctl.UserError) as caught:
            call(config)
        assert caught.value.key == key and words in str(caught.value), caught.value
    assert capfd.readouterr() == ("", "")


def test_overrides_as_a_mapping_reach_the_config(tmp_path: Path) -> None:
    with pytest.raises(nnctl.UserError) as caught:
        nnctl.validate({"data": {"source": "iris"}, "layers": [{"Dense": {"units": 3}}]}, {"epochs": 0})
    assert caught.value.key == "epochs"
    with pytest.raises(nnctl.UserError) as caught:
        nnctl.validate({"data": {"source": "iris"}, "layers": [{"Dense": {"units": 3}}]}, ["layers.3.Dense=1"])
    assert caught.value.key == "layers.3"


def test_a_missing_run_is_a_user_error() -> None:
    with pytest.raises(nnctl.UserError, match="run folder not found"):
        nnctl.Run("no-such-run")


def test_import_nnctl_imports_neither_tensorflow_nor_the_api() -> None:
    code = "import sys, nnctl; print('tensorflow' in sys.modules, 'nnctl.api' in sys.modules, nnctl.UserError)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("False False <class 'nnctl.errors.UserError'>")
