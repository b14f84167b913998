"""A binary classifier's decision threshold, end to end in new processes: chosen on validation,
recorded in metrics.json with the test values at it, and applied by `nnctl predict`."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from conftest import CONFIGS, SharedRun, example_args, nnctl, one_line_error


def predictions(run: Path, rows: Path) -> pd.DataFrame:
    p = nnctl("predict", run, rows)
    assert p.returncode == 0, p.stderr
    return pd.read_csv(io.StringIO(p.stdout))


@pytest.mark.parametrize("sets", [[], ["--set", "decision.threshold=0.9"]])
def test_the_threshold_is_chosen_on_validation_recorded_and_applied_by_predict(
        tmp_path: Path, sets: list[str], shared_run: Callable[..., SharedRun]) -> None:
    config = CONFIGS / "breast_cancer.yaml"
    trained = shared_run(config, *example_args(config), *sets)  # without sets: the example run (test_chain's)
    assert trained.process.returncode == 0, trained.process.stderr
    run = trained.copy(tmp_path / "runs")
    chosen = json.loads((run / "metrics.json").read_text())["decision"]
    assert chosen["chosen_by"] == ("decision.threshold" if sets else "f1 on the validation split")
    assert 0 < chosen["threshold"] < 1 and (chosen["threshold"] == 0.9) == bool(sets)
    assert set(chosen["val"]) == set(chosen["test"]) == {"accuracy", "precision", "recall", "f1", "balanced_accuracy"}
    rows = tmp_path / "rows.csv"
    pd.DataFrame(load_breast_cancer().data[:80]).to_csv(rows, index=False)
    got = predictions(run, rows)
    score, labels = got.columns[2], sorted(set(got["predicted"]))
    positive = score.removeprefix("p_")
    assert ((got[score] >= chosen["threshold"]) == (got["predicted"].astype(str) == positive)).all(), labels


def test_a_threshold_on_a_task_that_is_not_binary_is_one_line(tmp_path: Path) -> None:
    p = nnctl("train", CONFIGS / "iris_csv.yaml", "--set", "decision.threshold=0.3")
    assert "decision: a decision threshold is for binary classifiers" in one_line_error(p)
