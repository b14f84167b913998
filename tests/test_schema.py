"""The JSON Schema for editors, starter configs from `nnctl init`, and `nnctl config show`."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import CONFIGS, write_config


@pytest.fixture(scope="module")
def schema() -> dict:
    from nnctl.commands.schema import json_schema

    return json_schema()


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_fits_the_schema_and_names_it(schema: dict, config: Path) -> None:
    first = config.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=nnctl.schema.json"
    assert (config.parent / "nnctl.schema.json").is_file()
    jsonschema.validate(yaml.safe_load(config.read_text()), schema)


@pytest.mark.parametrize(("text", "complaint"), [
    ("data: {source: iris}\nlayers: [Dense]\nepoch: 3\n", "epoch"),
    ("data: {source: iris}\nlayers: [Dence]\n", "Dence"),
    ("data: {source: iris}\nlayers: [{Dense: 3}]\noptimizer: adamm\n", "adamm"),
    ("data: {sauce: iris}\nlayers: [Dense]\n", "sauce"),
    ("data: {source: a.csv}\nlayers: {trunk: {frm: a, layers: [Dense]}}\n", "frm"),
    ("data: {source: a.csv}\nlayers: {trunk: {from: a, layers: [Dence]}}\n", "Dence"),
])
def test_the_schema_rejects_misspellings(schema: dict, text: str, complaint: str) -> None:
    with pytest.raises(jsonschema.ValidationError) as e:
        jsonschema.validate(yaml.safe_load(text), schema)
    assert complaint in str(e.value)


def test_schema_command_prints_the_schema_with_keras_names(cli, tmp_path: Path) -> None:
    r = cli("schema")
    assert r.exit_code == 0, r.stderr
    printed = json.loads(r.stdout)
    stack, graph = printed["properties"]["layers"]["anyOf"]  # a list, or named branches (the graph form)
    layers = stack["items"]["anyOf"][0]["enum"]
    assert graph["additionalProperties"]["anyOf"][1]["properties"]["from"]
    assert {"Dense", "Conv2D", "LSTM", "MaxPooling2D", "VGG16", "Maxout"} <= set(layers) and "Lambda" not in layers
    optimizers = set(printed["properties"]["optimizer"]["anyOf"][0]["enum"])
    assert {"sgd", "adam", "rmsprop", "adagrad", "adadelta"} <= optimizers
    r = cli("schema", "--output", tmp_path / "s.json")
    assert r.exit_code == 0 and json.loads((tmp_path / "s.json").read_text()) == printed


@pytest.mark.parametrize("task", ["classification", "binary", "regression", "multilabel"])
def test_init_writes_a_config_that_validates(cli, tmp_path: Path, schema: dict, task: str) -> None:
    args = ["init", tmp_path / "new.yaml", "--task", task]
    if task == "multilabel":
        rows = "".join(f"{i % 7},{(i * 3) % 5},{'|'.join(t for t, on in (('a', i % 2), ('b', i % 3 == 0)) if on)}\n"
                       for i in range(60))
        (tmp_path / "ml.csv").write_text("p,q,tags\n" + rows)
        args += ["--data", str(tmp_path / "ml.csv")]
    r = cli(*args)
    assert r.exit_code == 0, r.stderr
    text = (tmp_path / "new.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=nnctl.schema.json") and f"task: {task}" in text
    jsonschema.validate(yaml.safe_load(text), schema)
    r = cli("validate", tmp_path / "new.yaml")
    assert r.exit_code == 0, r.stderr
    assert cli("init", tmp_path / "new.yaml").exit_code == 2  # no silent overwrite


def test_init_shapes_the_stack_by_the_data(cli, tmp_path: Path) -> None:
    r = cli("init", "--data", "mnist")  # offline: the 5,000-digit sample
    assert r.exit_code == 0, r.stderr
    starter = yaml.safe_load(r.stdout)
    assert "Conv2D" in json.dumps(starter["layers"]) and "28x28" not in r.stdout
    assert starter["layers"][-1] == {"Dense": {"units": 10, "activation": "softmax"}}
    r = cli("init", "--task", "multilabel")
    assert r.exit_code == 2 and "--data" in r.stderr


def test_config_show_fills_every_default(cli, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", "data: {source: iris}\n"
                                            "layers: [{Dense: {units: 3, activation: softmax}}]\n")
    r = cli("config", "show", cfg, "--set", "epochs=7")
    assert r.exit_code == 0, r.stderr
    shown = yaml.safe_load(r.stdout)
    assert shown["epochs"] == 7 and shown["batch_size"] == 32 and shown["optimizer"] == "adam"
    assert shown["data"]["validation_split"] == 0.1 and shown["shuffle"] is True and shown["name"] == "c"
    r = cli("config", "show", cfg, "--infer")
    inferred = yaml.safe_load(r.stdout)
    assert inferred["task"] == "classification" and inferred["loss"] == "sparse_categorical_crossentropy"
    assert inferred["input_shape"] == [4] and inferred["metrics"] == ["accuracy"]
