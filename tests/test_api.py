"""The Python API as a notebook uses it, in a new Python process: train from a path or a dict,
read the run, predict (equal to `nnctl predict`), evaluate, export; a mistake raises UserError.
(A new process: this test process never imports TensorFlow, see test_distribute.py.)"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from conftest import CONFIGS, nnctl

SCRIPT = """
import json, sys, yaml
import nnctl

run = nnctl.train(sys.argv[1], overrides={"epochs": 2})
cfg = yaml.safe_load(open(sys.argv[1]))
cfg["data"]["source"] = sys.argv[2]
from_dict = nnctl.train(cfg, overrides=["epochs=2"], runs_dir="dict-runs", name="from-dict")
frame = nnctl.Run(str(run.path)).predict(sys.argv[2])
frame.to_json("predicted.json", orient="split")
exported = run.export("keras", "exported.keras")
try:
    nnctl.validate(sys.argv[1], {"layers.1.Dense.unitz": 3})
    raised = None
except nnctl.UserError as e:
    raised = [e.key, str(e)]
print(json.dumps({"run": str(run.path), "test": run.metrics["test"], "config_epochs": run.config["epochs"],
                  "dict_run": str(from_dict.path), "dict_test": from_dict.metrics["test"],
                  "evaluated": run.evaluate()["test"], "exported": exported["max_abs_diff"], "raised": raised}))
"""


def test_train_read_predict_evaluate_and_export_from_python(tmp_path: Path) -> None:
    config, data = CONFIGS / "iris_csv.yaml", CONFIGS / "data" / "iris.csv"
    p = subprocess.run([sys.executable, "-c", SCRIPT, str(config), str(data)], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", p.stderr  # the core prints nothing: no progress, no Keras warnings
    got = json.loads(p.stdout)
    run, dict_run = tmp_path / got["run"], tmp_path / got["dict_run"]  # as given: absolute or relative
    assert run.parent == tmp_path / "runs" and dict_run.parent == tmp_path / "dict-runs"
    assert dict_run.name.startswith("from-dict-") and got["config_epochs"] == 2
    assert got["test"] == got["dict_test"] == got["evaluated"]  # same config, same seed, same model
    assert 0 < got["test"]["accuracy"] <= 1 and got["exported"] <= 1e-4
    assert got["raised"][0].startswith("layers.1") and "unitz" in got["raised"][1], got["raised"]

    cli = nnctl("predict", run, data)
    assert cli.returncode == 0, cli.stderr
    from_cli = pd.read_csv(io.StringIO(cli.stdout), dtype={"id": str})
    from_api = pd.read_json(tmp_path / "predicted.json", orient="split", dtype={"id": str})
    assert list(from_api.columns) == list(from_cli.columns) == ["id", "predicted", "probability", "p_setosa",
                                                               "p_versicolor", "p_virginica"]
    assert (from_api["predicted"] == from_cli["predicted"]).all() and len(from_api) == 150
    pd.testing.assert_frame_equal(from_api.drop(columns=["id", "predicted"]),
                                  from_cli.drop(columns=["id", "predicted"]), rtol=1e-5)
