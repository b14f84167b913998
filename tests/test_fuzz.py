"""Fuzz the config: hundreds of mutated configs, each must end in exit 0 or 2 and never a traceback."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_cli

BASE: dict[str, Any] = {
    "name": "fuzz",
    "seed": 1,
    "task": "classification",
    "data": {"source": "iris", "validation_split": 0.2, "test_split": 0.2},
    "layers": [
        {"Dense": {"units": 8, "activation": "relu"}},
        {"Dropout": 0.1},
        {"Dense": {"units": 3, "activation": "softmax"}},
    ],
    "loss": "sparse_categorical_crossentropy",
    "optimizer": {"name": "adam", "learning_rate": 0.01},
    "metrics": ["accuracy"],
    "batch_size": 16,
    "epochs": 2,
    "shuffle": True,
    "early_stopping": {"monitor": "val_loss", "patience": 2},
    "augmentation": None,
}
LAYERS = ["Dense", "Conv2D", "Conv1D", "MaxPooling2D", "Flatten", "Dropout", "LSTM", "GRU", "BatchNormalization",
          "Reshape", "Embedding", "Activation", "GlobalAveragePooling1D", "UpSampling2D", "Lambda", "Normalization",
          "TextVectorization", "Bidirectional", "TimeDistributed", "Maxout", "Dence", "InputLayer", "Layer"]
SNIPPETS = [b":", b"[", b"{", b"- ", b"\t", b"&a", b"*b", b"!!python/name:os.system", b"'", b"\n  ", b"%YAML"]
SOURCES = ["iris", "digits", "mnist_", "cifar10", "missing.csv", "missing.npz", ".", "fuzz.yaml", "", "wine"]

scalars = st.one_of(
    st.integers(-5, 300),
    st.sampled_from([0, -1, 2**31, 10**12, 2**63, 10**30]),  # huge numbers
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4), st.dictionaries(st.text(max_size=6), scalars, max_size=3))


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for k, v in items:
        out += _paths(v, (*prefix, k))
    return out


def _parent(cfg: dict, path: tuple) -> Any:
    node: Any = cfg
    for k in path[:-1]:
        node = node[k]
    return node


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    cfg = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(cfg)
        op = draw(st.sampled_from(["set", "delete", "unknown key", "layer", "source"]))
        if op == "source":
            cfg["data"] = {"source": draw(st.sampled_from(SOURCES))} if not isinstance(cfg.get("data"), dict) \
                else {**cfg["data"], "source": draw(st.sampled_from(SOURCES))}
        elif op == "layer" and isinstance(cfg.get("layers"), list) and cfg["layers"]:
            i = draw(st.integers(0, len(cfg["layers"]) - 1))
            cfg["layers"][i] = draw(st.one_of(st.sampled_from(LAYERS),
                                              st.builds(lambda n, a: {n: a}, st.sampled_from(LAYERS), values)))
        elif paths:
            path = draw(st.sampled_from(paths))
            parent = _parent(cfg, path)
            if op == "set":
                parent[path[-1]] = draw(values)
            elif op == "delete":
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=8))] = draw(scalars)
    text = yaml.safe_dump(cfg, sort_keys=False).encode()
    kind = draw(st.sampled_from(["as is", "as is", "as is", "truncate", "insert", "bytes"]))
    if kind == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif kind == "insert":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(SNIPPETS)) + text[at:]
    elif kind == "bytes":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.binary(min_size=1, max_size=4)) + text[at:]
    return text


def test_mutated_configs_end_in_0_or_2_never_a_traceback(tmp_path: Path) -> None:
    """At least 200 mutated configs, some valid and most not; each ends in 0 or 2 with one line."""
    seen: list[int] = []

    @settings(max_examples=250, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(text=mutated())
    def one(text: bytes) -> None:
        path = tmp_path / "fuzz.yaml"
        path.write_bytes(text)
        r = run_cli("validate", path)  # re-raises anything that is not a clean exit
        seen.append(r.exit_code)
        assert r.exit_code in (0, 2), (text, r.stdout, r.stderr)
        assert "Traceback" not in r.stdout + r.stderr
        if r.exit_code == 2:
            errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
            assert len(errors) == 1 and r.stderr.strip().startswith(("error: ", "warning: ")), r.stderr

    one()
    assert len(seen) >= 200 and seen.count(0) >= 10 and seen.count(2) >= 100, (len(seen), seen.count(0))
