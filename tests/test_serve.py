"""`nnctl serve` as a real process on loopback, called by a real HTTP client (http.client): its
predictions equal `nnctl predict`'s on the same rows (a table with gaps, images, a two-input
two-output graph model, a bfloat16 model); every bad request is a 4xx naming the instance and
field and the next good request succeeds; concurrent clients share model calls; SIGTERM during a
request finishes it and exits 0. And `nnctl predict RUN -` for pipelines."""

from __future__ import annotations

import base64
import http.client
import io
import json
import math
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from conftest import CONFIGS, SharedRun, example_args, nnctl, start_nnctl, write_config

pytestmark = pytest.mark.timeout(900)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


STARTED: list[subprocess.Popen] = []  # every server this module starts, killed at its end


@pytest.fixture(autouse=True, scope="module")
def no_orphans() -> Iterator[None]:
    """A failing test leaves no server running."""
    yield
    for proc in STARTED:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


class Server:
    """One `nnctl serve` process and a client for it."""

    def __init__(self, run: Path, *args: object) -> None:
        self.port = free_port()
        self.proc = start_nnctl("serve", run, "--port", self.port, *args)
        STARTED.append(self.proc)
        line = self.proc.stdout.readline()  # printed once the socket accepts
        assert line.startswith("serving "), (line, self.proc.stderr.read() if self.proc.poll() is not None else "")
        self.name = line.split("/v1/models/")[1].split()[0]

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        status, data = response.status, response.read()
        conn.close()
        return status, json.loads(data)

    def predict(self, instances: list, raw: bytes | None = None) -> tuple[int, dict]:
        body = raw if raw is not None else json.dumps({"instances": instances})
        return self.request("POST", f"/v1/models/{self.name}:predict", body,
                            {"Content-Type": "application/json"})

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.communicate(timeout=60)
        return self.proc.returncode


def train(config: Path, *sets: str, runs: Path | None = None) -> Path:
    p = nnctl("-q", "train", config, "--set", "epochs=1", *(a for s in sets for a in ("--set", s)),
              env={"NNCTL_RUNS_DIR": str(runs)} if runs else None)
    assert p.returncode == 0, p.stderr
    return Path(p.stdout.strip().splitlines()[-1])


def example(shared_run: Callable[..., SharedRun], stem: str, into: Path) -> Path:
    """An example config's run as the session trained it once (test_chain's), copied into `into`."""
    config = CONFIGS / f"{stem}.yaml"
    trained = shared_run(config, *example_args(config))
    assert trained.process.returncode == 0, trained.process.stderr
    return trained.copy(into)


def predicted(run: Path, source: Path) -> pd.DataFrame:
    p = nnctl("predict", run, source)
    assert p.returncode == 0, p.stderr
    return pd.read_csv(io.StringIO(p.stdout), dtype={"id": str}).drop(columns=["id"])


def same(served: dict, expected: pd.DataFrame) -> None:
    got = pd.DataFrame(served["predictions"])
    assert list(got.columns) == list(expected.columns)
    for c in expected.columns:
        if expected[c].dtype.kind == "f":
            assert got[c].astype(float).tolist() == pytest.approx(expected[c].tolist(), rel=1e-4, abs=1e-5), c
        else:
            assert got[c].astype(str).tolist() == expected[c].astype(str).tolist(), c


def rows(csv: Path, n: int, drop: list[str]) -> list[dict]:
    df = pd.read_csv(csv, na_values=["NA", "?"]).head(n).drop(columns=drop)
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in df.to_dict(orient="records")]


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory,
             shared_run: Callable[..., SharedRun]) -> Iterator[tuple[Server, Path, Path]]:
    """A table with gaps, served once for the tests below."""
    work = tmp_path_factory.mktemp("penguins")
    run = example(shared_run, "penguins", work / "runs")  # module-wide: not in one test's folder
    sample = work / "new.csv"
    pd.read_csv(CONFIGS / "data" / "penguins.csv").head(40).to_csv(sample, index=False)  # rows with NA in them
    yield Server(run, "--max-body-mb", "0.1"), run, sample


def test_a_table_with_gaps_serves_what_predict_writes(penguins: tuple[Server, Path, Path]) -> None:
    server, run, sample = penguins
    instances = rows(sample, 40, ["species"])
    assert any(v is None for r in instances for v in r.values())  # missing values, sent as null
    status, body = server.predict(instances)
    assert status == 200, body
    same(body, predicted(run, sample))
    with_target = rows(sample, 3, [])  # the target column left in, as predict takes rows: ignored
    assert "species" in with_target[0] and server.predict(with_target)[0] == 200
    status, info = server.request("GET", f"/v1/models/{server.name}")
    assert status == 200 and info["model_version_status"][0]["state"] == "AVAILABLE"
    assert info["class_names"] == ["Adelie", "Chinstrap", "Gentoo"] and "accuracy" in info["metrics"]["test"]
    assert server.request("GET", "/healthz") == (200, {"status": "ok"})
    status, doc = server.request("GET", "/openapi.json")
    assert status == 200 and "/v1/models/{model}:predict" in doc["paths"]


@pytest.mark.parametrize(("body", "status", "words"), [
    (b'{"instances": [', 400, "not JSON"),
    (b'{"rows": []}', 400, '"instances"'),
    (b'{"instances": []}', 400, "non-empty"),
    (json.dumps({"instances": [{"island": "Biscoe", "bill_length_mm": 40, "bill_depth_mm": 18,
                                "flipper_length_mm": 190, "body_mass_g": 3500, "sex": "male", "year": 2008,
                                "wingspan": 3}]}).encode(), 400, "instances[0].wingspan: unknown field"),
    (json.dumps({"instances": [{"island": "Biscoe"}]}).encode(), 400, "instances[0]: missing field"),
    (json.dumps({"instances": [{"island": "Biscoe", "bill_length_mm": 40, "bill_depth_mm": 18,
                                "flipper_length_mm": 190, "body_mass_g": 3500, "sex": "male", "year": 2008},
                               {"island": "Biscoe", "bill_length_mm": "long", "bill_depth_mm": 18,
                                "flipper_length_mm": 190, "body_mass_g": 3500, "sex": "male", "year": 2008}]}).encode(),
     400, "instances[1]: column 'bill_length_mm' has 'long'"),
    (json.dumps({"instances": [[1, 2, 3]]}).encode(), 400, "instances[0]"),
    (b'{"instances": [' + b'{"a": "' + b"x" * 120_000 + b'"}]}', 413, "--max-body-mb"),
])
def test_every_bad_request_is_a_4xx_naming_it_and_the_next_request_succeeds(
        penguins: tuple[Server, Path, Path], body: bytes, status: int, words: str) -> None:
    server, _, sample = penguins
    got, answer = server.predict([], raw=body)
    assert got == status and words in answer["error"], answer
    assert "Traceback" not in answer["error"]
    ok, good = server.predict(rows(sample, 1, ["species"]))
    assert ok == 200 and len(good["predictions"]) == 1
    assert server.request("POST", "/v1/models/nope:predict", "{}")[0] == 404


def test_concurrent_clients_share_model_calls_and_get_their_own_rows(penguins: tuple[Server, Path, Path]) -> None:
    server, run, sample = penguins
    instances = rows(sample, 40, ["species"])
    expected = predicted(run, sample)
    calls_before = server.request("GET", f"/v1/models/{server.name}")[1]["model_calls"]
    results: dict[int, dict] = {}

    def client(k: int) -> None:
        for j in range(5):
            i = (k * 5 + j) % len(instances)
            status, body = server.predict([instances[i]])
            assert status == 200, body
            results[k * 5 + j] = body["predictions"][0] | {"row": i}

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 40
    for r in results.values():  # each caller got its own row's prediction
        assert r["predicted"] == expected["predicted"][r["row"]]
        assert r["probability"] == pytest.approx(expected["probability"][r["row"]], rel=1e-4, abs=1e-5)
    calls = server.request("GET", f"/v1/models/{server.name}")[1]["model_calls"] - calls_before
    assert calls < 40  # rows that arrived together were one model call


def test_sigterm_during_a_request_finishes_it_and_exits_0(penguins: tuple[Server, Path, Path]) -> None:
    server, _, sample = penguins
    big = rows(sample, 40, ["species"]) * 10  # 400 rows: read and predicted while the signal comes
    answer: dict = {}
    t = threading.Thread(target=lambda: answer.update(zip(("status", "body"), server.predict(big), strict=True)))
    t.start()
    time.sleep(0.05)
    assert server.stop() == 0, server.proc.stderr.read() if server.proc.stderr else ""
    t.join(timeout=60)
    assert answer["status"] == 200 and len(answer["body"]["predictions"]) == 400


@pytest.mark.slow  # three servers of three kinds of model: the slow tier (.ci/run); a table's server is here
def test_images_graph_and_bfloat16_models_serve_what_predict_writes(
        tmp_path: Path, shared_run: Callable[..., SharedRun]) -> None:
    digits = example(shared_run, "digits_folder", tmp_path / "runs")
    folder = CONFIGS / "data" / "digits_png" / "3"
    files = sorted(folder.iterdir())[:12]
    images = tmp_path / "images"
    images.mkdir()
    for f in files:
        (images / f.name).write_bytes(f.read_bytes())
    two_heads = example(shared_run, "autompg_two_heads", tmp_path / "runs")
    cars = tmp_path / "cars.csv"
    pd.read_csv(CONFIGS / "data" / "cars.csv").head(30).to_csv(cars, index=False)
    bf16 = train(write_config(tmp_path / "bf16.yaml", "name: bf16\ndata: {source: iris}\n"
                              "mixed_precision: mixed_bfloat16\nlayers: [{Dense: {units: 16, activation: relu}}, "
                              "{Dense: {units: 3, activation: softmax}}]\n"))
    table = tmp_path / "iris.csv"
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).frame.drop(columns=["target"]).head(20)
    iris.columns = [f"x{i}" for i in range(4)]
    iris.to_csv(table, index=False)

    server = Server(digits)
    sent = [{"b64": base64.b64encode(f.read_bytes()).decode()} for f in files]
    status, body = server.predict(sent)
    assert status == 200, body
    same(body, predicted(digits, images))
    status, bad = server.predict([{"b64": base64.b64encode(b"not an image").decode()}])
    assert status == 400 and "instances[0].b64: not a readable image" in bad["error"], bad
    assert server.predict([{"b64": "%%%"}])[1]["error"].startswith("instances[0].b64: b64 is not base64")
    assert server.predict(sent[:1])[0] == 200
    assert server.stop() == 0

    server = Server(two_heads)
    status, body = server.predict(rows(cars, 30, ["mpg", "origin"]))
    assert status == 200, body
    same(body, predicted(two_heads, cars))
    assert {"mpg", "origin", "origin_p_usa"} <= set(body["predictions"][0])
    assert server.stop() == 0

    server = Server(bf16)
    status, body = server.predict(iris.to_numpy().tolist())  # an array model: nested lists
    assert status == 200, body
    same(body, predicted(bf16, table))
    assert server.predict([[1, 2]])[0] == 400
    assert server.stop() == 0


def test_predict_dash_reads_csv_or_json_lines_on_stdin(tmp_path: Path,
                                                        shared_run: Callable[..., SharedRun]) -> None:
    run = example(shared_run, "iris_csv", tmp_path / "runs")
    source = CONFIGS / "data" / "iris.csv"
    expected = nnctl("predict", run, source).stdout
    for data in (source.read_text(),
                 "".join(json.dumps(r) + "\n" for r in pd.read_csv(source).to_dict(orient="records"))):
        p = nnctl("predict", run, "-", stdin=data)
        assert p.returncode == 0, p.stderr
        assert p.stdout == expected and "ignored columns the model does not take: species" in p.stderr
    p = nnctl("predict", run, "-", stdin="a,b\n1,2\n")
    assert p.returncode == 2 and "stdin: the run was trained on columns that this file lacks" in p.stderr
    assert "Traceback" not in p.stderr
