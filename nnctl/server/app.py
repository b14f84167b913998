"""The routes, in TensorFlow Serving's REST shape, so that clients written for it work unchanged:

    POST /v1/models/NAME:predict   {"instances": [...]}  ->  {"predictions": [...]}
    GET  /v1/models/NAME           status, inputs, class names, the run's metrics
    GET  /healthz                  {"status": "ok"}

Every mistake in a request is a 4xx JSON `{"error": ...}` naming the instance and field; the
server keeps serving. Instances are read by the run's Predictor, as `nnctl predict` reads rows.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nnctl.config import Config
from nnctl.errors import UserError, one_line
from nnctl.server.batcher import Batcher

REQUEST_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["instances"],
    "properties": {"instances": {"type": "array", "minItems": 1, "items": {}, "description":
                   "rows as the model's `nnctl predict` takes them: {column: value} (null: missing), "
                   "nested lists of numbers, or {\"b64\": \"...\"} for an encoded image"}}}}}}


INLINE_ROWS = 16  # requests up to this many rows are read on the event loop (a thread hop costs more)


class Servable(Protocol):
    """What the server needs of a run's model: exactly the members make_app, its routes and the
    batcher use. commands/predict.py's Predictor is the real one; tests may serve a stub."""

    run: Path
    cfg: Config  # its task, for the status page
    meta: dict[str, Any]  # the run's metrics.json: val and test values for the status page
    model: Any  # a Keras model: its input tensors for the status page
    class_names: list[str] | dict[str, list[str]] | None

    def call(self, x: Any) -> Any: ...  # raw outputs of one batch of model inputs (the batcher's call)
    def fields(self) -> list[str] | None: ...  # the columns a row must give (None: arrays or images)
    def targets(self) -> list[str]: ...  # columns a row may carry and that are ignored
    def instances(self, values: list[Any], notes: list[str] | None = None) -> tuple[list[str], Any]: ...
    def records(self, raw: Any) -> list[dict[str, Any]]: ...  # the model's outputs as JSON rows


class Refused(Exception):
    """A request the server answers with a 4xx and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def make_app(predictor: Servable, name: str, max_body_bytes: int) -> FastAPI:
    batcher = Batcher(predictor.call)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title=f"nnctl serve: {name}", lifespan=lifespan,
                  description="A trained nnctl run in TensorFlow Serving's REST shape.")
    app.state.batcher = batcher

    @app.exception_handler(Refused)
    async def refused(request: Request, e: Refused) -> JSONResponse:
        return JSONResponse({"error": str(e)}, status_code=e.status)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models/{model}")
    async def status(model: str) -> dict[str, Any]:
        _named(model, name)
        return describe(predictor, name, batcher.calls)

    @app.post("/v1/models/{model}:predict", openapi_extra={"requestBody": REQUEST_BODY})
    async def predict(model: str, request: Request) -> JSONResponse:
        _named(model, name)
        instances = _instances(await _body(request, max_body_bytes))
        try:  # a few rows read at once; many in a thread, so that the event loop keeps serving
            ids, x = _read(predictor, instances) if len(instances) <= INLINE_ROWS else \
                await run_in_threadpool(_read, predictor, instances)
        except UserError as e:
            raise Refused(400, await run_in_threadpool(_locate, predictor, instances, e)) from None
        try:
            raw = await batcher.predict(x, len(ids))
        except Exception as e:  # noqa: BLE001  (inputs the model cannot take: this request's error alone)
            raise Refused(400, f"instances: the model cannot take these inputs: {one_line(e, 200)}") from None
        return JSONResponse({"predictions": predictor.records(raw)})

    return app


def describe(predictor: Servable, name: str, calls: int = 0) -> dict[str, Any]:
    """GET /v1/models/NAME: TensorFlow Serving's version status, and what a client needs to know."""
    model, meta = predictor.model, predictor.meta
    tensors = model.inputs if isinstance(model.inputs, list) else list(model.inputs.values())
    return {
        "model_version_status": [{"version": "1", "state": "AVAILABLE",
                                  "status": {"error_code": "OK", "error_message": ""}}],
        "name": name, "run": str(predictor.run), "task": predictor.cfg.task,
        "inputs": [{"name": t.name, "dtype": str(t.dtype), "shape": list(t.shape)} for t in tensors],
        "fields": predictor.fields(), "class_names": predictor.class_names,
        "metrics": {split: {k: v if isinstance(v, (int, float)) and math.isfinite(v) else None
                            for k, v in (meta.get(split) or {}).items()} for split in ("val", "test")},
        "model_calls": calls,
    }


def _named(model: str, name: str) -> None:
    if model != name:
        raise Refused(404, f"no model {model!r}: this server serves {name!r} (/v1/models/{name}:predict)")


async def _body(request: Request, limit: int) -> bytes:
    size = request.headers.get("content-length")
    if size is not None and size.isdigit() and int(size) > limit:
        raise Refused(413, f"the body is {int(size):,} bytes, over the {limit:,} this server takes (--max-body-mb)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(413, f"the body is over the {limit:,} bytes this server takes (--max-body-mb)")
    return bytes(body)


def _instances(body: bytes) -> list[Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise Refused(400, f"the body is not JSON: {one_line(e, 120)}") from None
    if not isinstance(data, dict) or "instances" not in data:
        raise Refused(400, 'give a JSON object with "instances": a list of rows, e.g. {"instances": [{...}]}')
    instances = data["instances"]
    if not isinstance(instances, list) or not instances:
        raise Refused(400, "instances: give a non-empty list of rows")
    return instances


def _read(predictor: Servable, instances: list[Any]) -> tuple[list[str], Any]:
    """The model's inputs; a table's rows must give exactly the fields the model takes."""
    fields = predictor.fields()
    if fields is not None:
        ignored = set(predictor.targets())  # rows as predict takes them: the target may stay in
        for i, row in enumerate(instances):
            if not isinstance(row, dict):
                raise UserError(f"give a mapping of {', '.join(fields)} to values", f"instances[{i}]")
            unknown = [k for k in row if k not in fields and k not in ignored]
            if unknown:
                raise UserError(f"unknown field; this model takes {', '.join(fields)}", f"instances[{i}].{unknown[0]}")
            missing = [f for f in fields if f not in row]
            if missing:
                raise UserError(f"missing field {missing[0]!r} (send null for a missing value); this model takes "
                                f"{', '.join(fields)}", f"instances[{i}]")
    return predictor.instances(instances, [])


def _locate(predictor: Servable, instances: list[Any], error: UserError) -> str:
    """The error with the instance that caused it: each instance read alone until one fails."""
    if (error.key or "").startswith("instances[") or len(instances) == 1:
        return str(error) if (error.key or "").startswith("instances") else f"instances[0]: {_no_line(error.message)}"
    for i, row in enumerate(instances):
        try:
            predictor.instances([row], [])
        except UserError as e:
            return f"instances[{i}]: {_no_line(e.message)}"
    return f"instances: {error.message}"


def _no_line(message: str) -> str:
    """A file's "(line 2)" means nothing for an instance read alone."""
    return re.sub(r" \(line \d+\)", "", message)
