"""The decision threshold's choice (engine/decision.py) against a brute-force search over every
cut point, on seeded scores: no TensorFlow, milliseconds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from nnctl.config import load_config
from nnctl.engine import decision

SCORERS = {"f1": f1_score, "accuracy": accuracy_score, "balanced_accuracy": balanced_accuracy_score}


@pytest.mark.parametrize("metric", list(SCORERS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_chosen_threshold_is_the_best_cut_on_the_scores_given(metric: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.35 * y + rng.normal(0.35, 0.2, 300), 0, 1).round(3)  # ties included
    threshold, value = decision.choose(y, p, metric)
    # Every cut but the lowest score's, which predicts every row positive: no decision at all.
    brute = max(SCORERS[metric](y, (p >= t).astype(int)) for t in np.unique(p)[1:])
    assert value == pytest.approx(brute) and SCORERS[metric](y, (p >= threshold).astype(int)) == pytest.approx(brute)
    assert decision.at(y, p, threshold)[metric] == pytest.approx(value)


def test_a_fixed_threshold_one_class_or_no_validation() -> None:
    spec = load_config({"data": {"source": "x.csv"}, "layers": ["Dense"], "decision": {"threshold": 0.8}}).decision
    y, p = np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.7, 0.85])
    fixed = decision.decide(spec, (y, p))
    assert fixed["threshold"] == 0.8 and fixed["chosen_by"] == "decision.threshold"
    assert fixed["val"]["accuracy"] == 0.5  # 0.9 and 0.85 predicted positive, 0.7 not
    assert decision.decide(None, None) == {"threshold": 0.5, "chosen_by": "no validation split: 0.5"}
    assert decision.choose(np.ones(4), p)[0] == 0.5  # nothing to choose on


def test_the_key_is_checked_by_the_schema() -> None:
    from nnctl.errors import UserError

    with pytest.raises(UserError) as caught:
        load_config({"data": {"source": "x.csv"}, "layers": ["Dense"], "decision": {"threshold_metric": "auc"}})
    assert caught.value.key == "decision.threshold_metric"
    with pytest.raises(UserError) as caught:
        load_config({"data": {"source": "x.csv"}, "layers": ["Dense"], "decision": {"threshold": 1.5}})
    assert caught.value.key == "decision.threshold"
