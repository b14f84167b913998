"""The pure logic, tested directly: no TensorFlow, no training, milliseconds each.

The same rules are proved end to end elsewhere (through the CLI); these pin each rule down
where a change would break it, and run first.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnctl.config import apply_overrides, parse_override
from nnctl.engine.checkpoint import State
from nnctl.errors import UserError, did_you_mean, one_line
from nnctl.model import tasks
from nnctl.run import leaderboard
from nnctl.run.folder import RunFolder
from nnctl.run.record import Record, history_csv

# ---------------------------------------------------------------- tasks.check


def labels(y: list) -> tasks.Labels:
    return tasks.Labels.of(np.asarray(y))


def test_labels_are_read_by_kind() -> None:
    assert labels([0, 2, 1]) == tasks.Labels("integer", 3, 0.0, 2.0)
    assert labels([[0, 1], [1, 0]]).kind == "onehot"
    assert labels([[1, 1], [0, 1]]).kind == "multihot"
    assert labels([0.5, 1.5]).kind == "continuous"
    steps = labels([[0, 2, 1], [1, 0, 0]])  # integer classes per step: not continuous numbers
    assert (steps.kind, steps.n_outputs, steps.positions) == ("positions", 3, (3,))
    assert labels(np.zeros((2, 4, 4), dtype="int64")).kind == "positions"  # per cell, even with one class seen
    assert labels([[0, 1, 1], [1, 0, 0]]).kind == "multihot"  # 0/1 pairs stay tags
    assert tasks.infer_task(steps, False, 9) == "classification"
    assert tasks.default_loss("classification", steps) == "sparse_categorical_crossentropy"


@pytest.mark.parametrize(("task", "y", "units", "activation", "loss", "key", "words"), [
    ("classification", [0, 1, 2], 2, "softmax", "sparse_categorical_crossentropy", "layers.1.Dense", "3 classes"),
    ("classification", [0, 1, 2], 3, "softmax", "binary_crossentropy", "loss", "binary_crossentropy on a 3"),
    ("classification", [0, 1, 2], 3, "softmax", "categorical_crossentropy", "loss", "one-hot"),
    ("classification", [0.5, 1.5], 1, "softmax", "mse", "task", "continuous"),
    ("binary", [0, 1], 1, "softmax", "binary_crossentropy", "layers.1.Dense", "always 1.0"),
    ("regression", [0.0, 5.0], 1, "sigmoid", "mse", "layers.1.Dense", "0..1"),
    ("regression", [0.0, 5.0], 1, None, "categorical_crossentropy", "loss", "for classification"),
])
def test_check_refuses_what_cannot_train(task: str, y: list, units: int, activation: str, loss: str, key: str,
                                         words: str) -> None:
    with pytest.raises(UserError) as e:
        tasks.check(task, labels(y), units, activation or "linear", loss, "layers.1.Dense")
    assert e.value.key == key and words in str(e.value)


def test_check_warns_on_legal_oddities_and_passes_the_slides_models() -> None:
    warned = tasks.check("classification", labels([0, 1, 2]), 3, "sigmoid", "sparse_categorical_crossentropy", "L")
    assert warned == ["L: sigmoid output on a 3-class task; softmax gives class probabilities that sum to 1"]
    assert tasks.check("classification", labels([0, 1, 2]), 3, "softmax", "sparse_categorical_crossentropy", "L") == []
    assert tasks.check("binary", labels([0, 1]), 1, "sigmoid", "binary_crossentropy", "L") == []
    assert tasks.check("regression", labels([-1.0, 2.5]), 1, "linear", "mean_squared_error", "L") == []


def test_task_inference_and_defaults() -> None:
    assert tasks.infer_task(labels([0, 1, 2]), False, 3) == "classification"
    assert tasks.infer_task(labels([0, 1]), False, 1) == "binary"
    assert tasks.infer_task(labels([[1, 1], [0, 1]]), False, 2) == "multilabel"
    assert tasks.infer_task(labels([0.5, 1.5]), True, 1) == "regression"
    assert tasks.default_loss("classification", labels([[0, 1], [1, 0]])) == "categorical_crossentropy"
    assert tasks.default_loss("classification", labels([0, 1, 2])) == "sparse_categorical_crossentropy"


# ---------------------------------------------------------------- --set overrides


def test_overrides_set_dotted_keys_list_items_and_expand_short_forms() -> None:
    data = {"optimizer": "adam", "layers": ["Flatten", {"Dense": {"units": 10}}], "epochs": 1}
    apply_overrides(data, ["optimizer.learning_rate=0.01", "layers.1.Dense.units=32", "layers.0.Dropout=0.3",
                           "epochs=5", "name=x"])
    assert data == {"optimizer": {"name": "adam", "learning_rate": 0.01},
                    "layers": [{"Flatten": None, "Dropout": 0.3}, {"Dense": {"units": 32}}], "epochs": 5, "name": "x"}
    assert parse_override("a=[1, 2]") == ("a", [1, 2]) and parse_override("a=") == ("a", None)


@pytest.mark.parametrize(("item", "words"), [("epochs", "expected KEY=VALUE"), ("layers.9.x=1", "no item '9'"),
                                             ("epochs.x.y=1", "cannot go into a int"), ("a=[1", "not valid YAML")])
def test_bad_overrides_are_one_line_errors(item: str, words: str) -> None:
    with pytest.raises(UserError) as e:
        apply_overrides({"epochs": 1, "layers": ["Flatten"]}, [item])
    assert words in str(e.value) and "\n" not in str(e.value)


# ---------------------------------------------------------------- early stopping's count


def test_state_counts_patience_as_keras_early_stopping_does() -> None:
    s = State.start("val_loss", "min")
    improved = [s.record({"val_loss": v}, i, min_delta=0.1) for i, v in enumerate([1.0, 0.95, 0.8, 0.85, 0.9], 1)]
    assert improved == [True, False, True, False, False]
    assert (s.best, s.best_epoch, s.wait, s.epoch, s.iterations) == (0.8, 3, 2, 5, 5)


def test_state_direction_is_keras_own_then_the_name() -> None:
    assert State.start("val_auc", "auto", {"auc": "max"}).mode == "max"
    assert State.start("val_loss", "auto", {}).mode == "min"
    assert State.start("val_accuracy", "auto").mode == "max"  # an older run without recorded directions
    s = State.start("val_accuracy", "auto", {"accuracy": "max"})
    assert [s.record({"val_accuracy": v}, 1) for v in (0.5, 0.7, 0.6)] == [True, True, False]


# ---------------------------------------------------------------- leaderboard order


def row(name: str, **values: float) -> dict:
    return {"run": name, "config": {}, "_directions": {"accuracy": "max", "loss": "min"},
            **{k.replace("__", "."): v for k, v in values.items()}}


def test_order_ranks_on_validation_never_on_test() -> None:
    rows = [row("a", val__loss=0.5, test__loss=0.1), row("b", val__loss=0.3, test__loss=0.9),
            row("c", test__loss=0.0)]
    assert [r["run"] for r in leaderboard.order(rows)] == ["b", "a", "c"]
    assert rows[2]["note"] == "not ranked: no validation split"
    ranked = leaderboard.order([row("a", val__accuracy=0.8), row("b", val__accuracy=0.9)], "accuracy")
    assert [r["run"] for r in ranked] == ["b", "a"]
    assert [r["run"] for r in leaderboard.order(rows, "test.loss")] == ["c", "a", "b"]  # only when named in full


def test_order_follows_the_early_stopping_monitor_and_names_unknown_metrics() -> None:
    rows = [row("a", val__accuracy=0.9, val__loss=0.9), row("b", val__accuracy=0.8, val__loss=0.1)]
    for r in rows:
        r["config"] = {"early_stopping.monitor": "val_accuracy"}
    assert leaderboard.objective(rows) == "val.accuracy"
    assert [r["run"] for r in leaderboard.order(rows)] == ["a", "b"]
    with pytest.raises(UserError, match=r"did you mean 'val.accuracy'"):
        leaderboard.order(rows, "val.acuracy")


# ---------------------------------------------------------------- messages


def test_did_you_mean_and_one_line() -> None:
    assert did_you_mean("Dens", ["Dense", "Dropout"]) == " (did you mean 'Dense'?)"
    assert did_you_mean("dense", ["Dense"]) == " (did you mean 'Dense'?)"  # case-insensitive
    assert did_you_mean("zzz", ["Dense"]) == ""
    assert did_you_mean("mnst", ["mnist"], what="the built-in ") == " (did you mean the built-in 'mnist'?)"
    assert one_line(ValueError("a\n  b\tc")) == "a b c"
    assert len(one_line("x" * 500)) == 300 and one_line("x" * 500).endswith("...")


# ---------------------------------------------------------------- the run folder and its record


def test_record_leaves_optional_keys_out_until_set_and_keeps_unknown_ones() -> None:
    rec = Record(task="binary")
    assert "reason" not in rec.dump() and rec.dump()["best_epoch"] is None
    rec.end("failed", 1.5, "boom")
    assert rec.dump()["reason"] == "boom" and rec.dump()["status"] == "failed"
    old = Record.model_validate({"status": "completed", "folds": [1, 2]})  # a key another nnctl wrote
    assert old.dump()["folds"] == [1, 2]
    with pytest.raises(ValueError):
        Record.model_validate({"status": "done"})


def test_history_csv_is_one_based_and_exact() -> None:
    text = history_csv([{"loss": 0.1 + 0.2}, {"loss": 1 / 3, "val_loss": 0.5}])
    assert text == "epoch,loss,val_loss\n1,0.30000000000000004,\n2,0.3333333333333333,0.5\n"


def test_run_folder_writes_atomically_and_reads_strictly(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path, "../../x y")
    assert run.path.parent == tmp_path and run.name.startswith("x-y-")
    run.write_record(Record(task="regression", epochs=2))
    assert json.loads(run.metrics.read_text())["epochs"] == 2
    assert run.read_record().task == "regression"
    assert [p.name for p in run.path.iterdir()] == ["metrics.json"]  # no temp file left behind
    run.metrics.write_text('{"status": "runn')
    with pytest.raises(UserError, match="metrics.json is damaged"):
        run.read_metrics()
    run.metrics.write_text('{"status": "done", "epochs": 2}')  # JSON, but not a run's record
    with pytest.raises(UserError, match=r"metrics.json is damaged \(status: "):
        run.read_record()
    with pytest.raises(UserError, match="has no model.keras"):
        RunFolder(tmp_path).load_model()
