"""`nnctl serve` against the server a user would write by hand, on loopback.

The same trained run (an MLP on iris, from arrays) behind (a) `nnctl serve` and (b) a FastAPI
handler calling `model.predict` per request, as the Keras docs' examples do. 8 concurrent
clients (keep-alive connections, one thread each) send single-row requests for `--seconds`,
then 256-row requests: rows/s and the p50/p99 latency of a request, per server.

    python benchmarks/serve.py [--seconds 20] [--clients 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HAND_WRITTEN = '''
import sys
import numpy as np
import keras
import nnctl.layers  # noqa: F401  (nnctl's own layers, registered for loading)
from fastapi import FastAPI
import uvicorn

model = keras.saving.load_model(sys.argv[1])
app = FastAPI()


@app.post("/v1/models/m:predict")
def predict(body: dict) -> dict:
    x = np.asarray(body["instances"], dtype="float32")
    return {"predictions": model.predict(x, verbose=0).tolist()}


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
'''

CONFIG = """name: bench
data: {source: iris}
layers: [{Dense: {units: 64, activation: relu}}, {Dense: {units: 64, activation: relu}},
         {Dense: {units: 3, activation: softmax}}]
epochs: 3
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port: int, path: str, body: bytes, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"no server on port {port}")


def load(port: int, path: str, rows: list[list[float]], seconds: float, clients: int) -> dict[str, float]:
    body = json.dumps({"instances": rows}).encode()
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        while time.perf_counter() < stop:
            began = time.perf_counter()
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    began = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - began
    latencies.sort()
    return {"rows_per_s": len(latencies) * len(rows) / took, "requests": len(latencies),
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    nnctl = shutil.which("nnctl", path=str(Path(sys.executable).parent)) or "nnctl"
    work = Path(tempfile.mkdtemp())
    env = {**os.environ, "NNCTL_RUNS_DIR": str(work / "runs")}
    (work / "bench.yaml").write_text(CONFIG)
    trained = subprocess.run([nnctl, "-q", "train", str(work / "bench.yaml")], env=env, capture_output=True,
                             text=True, check=True)
    run = Path(trained.stdout.strip().splitlines()[-1])
    (work / "hand.py").write_text(HAND_WRITTEN)
    from sklearn.datasets import load_iris

    x = load_iris().data.astype(float).round(2).tolist()
    results = []
    for server in ("nnctl serve", "hand-written"):
        port = free_port()
        if server == "nnctl serve":
            proc = subprocess.Popen([nnctl, "serve", str(run), "--port", str(port)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            path = "/v1/models/bench:predict"
        else:
            proc = subprocess.Popen([sys.executable, str(work / "hand.py"), str(run / "model.keras"), str(port)],
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            path = "/v1/models/m:predict"
        try:
            wait_up(port, path, json.dumps({"instances": x[:1]}).encode())
            for n in (1, 256):
                rows = (x * 2)[:n]
                load(port, path, rows, min(3.0, args.seconds), args.clients)  # warm: traces, pools
                results.append({"server": server, "rows_per_request": n,
                                **load(port, path, rows, args.seconds, args.clients)})
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    shutil.rmtree(work, ignore_errors=True)
    print(f"{args.clients} clients, {args.seconds:g} s each, loopback, {os.cpu_count()} cores")
    print("| server | rows/request | rows/s | requests | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['server']} | {r['rows_per_request']} | {r['rows_per_s']:,.0f} | {r['requests']:,} | "
              f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
    single = {r["server"]: r for r in results if r["rows_per_request"] == 1}
    print(f"single rows: nnctl serve / hand-written = "
          f"{single['nnctl serve']['rows_per_s'] / single['hand-written']['rows_per_s']:.1f}x rows/s, p99 "
          f"{single['nnctl serve']['p99_ms']:.1f} ms against {single['hand-written']['p99_ms']:.1f} ms")


if __name__ == "__main__":
    main()
