"""Micro-batching: requests that arrive together share one model call.

Each request's instances are read into model inputs first (its own errors stay its own); the
batcher then waits a few milliseconds for others, concatenates what came, calls the model once in
a worker thread (never on the event loop) and hands each caller its own rows. If a joint call
fails, each request is called alone, so that one bad request never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_ROWS = 512  # rows per model call
WAIT_S = 0.002  # how long the first request of a batch waits for company


@dataclass
class _Job:
    x: Any
    rows: int
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Batcher:
    def __init__(self, call: Any, max_rows: int = MAX_ROWS, wait_s: float = WAIT_S) -> None:
        self.call, self.max_rows, self.wait_s = call, max_rows, wait_s
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="model")  # one call at a time
        self.task: asyncio.Task | None = None
        self.calls = 0  # model calls made, for the status page and tests

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.pool.shutdown(wait=True)

    async def predict(self, x: Any, rows: int) -> Any:
        """The model's outputs for this request's rows."""
        job = _Job(x, rows)
        await self.queue.put(job)
        return await job.done

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            deadline = loop.time() + self.wait_s
            while sum(j.rows for j in jobs) < self.max_rows:
                left = deadline - loop.time()
                if left <= 0 and self.queue.empty():
                    break
                try:
                    jobs.append(await asyncio.wait_for(self.queue.get(), max(left, 0)))
                except asyncio.TimeoutError:  # TimeoutError's alias from 3.11; a class of its own in 3.10
                    break
            try:
                await self._serve(loop, jobs)
            except Exception as e:  # noqa: BLE001  (the loop must outlive any batch: its callers get the error)
                for j in jobs:
                    if not j.done.done():
                        j.done.set_exception(e)

    async def _serve(self, loop: asyncio.AbstractEventLoop, jobs: list[_Job]) -> None:
        live = [j for j in jobs if not j.done.done()]  # a caller that went away costs nothing
        if not live:
            return
        try:
            out = await loop.run_in_executor(self.pool, self.call, _concat([j.x for j in live]))
            self.calls += 1
        except Exception as e:  # noqa: BLE001  (inputs that cannot be joined, or a call that failed)
            if len(live) == 1:
                if not live[0].done.done():
                    live[0].done.set_exception(e)  # that caller's error alone
            else:
                for j in live:  # alone: each gets its own outputs or its own error
                    await self._serve(loop, [j])
            return
        start = 0
        for j in live:
            if not j.done.done():
                j.done.set_result(_slice(out, start, start + j.rows))
            start += j.rows


def _concat(parts: list[Any]) -> Any:
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(parts)


def _slice(out: Any, a: int, b: int) -> Any:
    if isinstance(out, dict):
        return {k: v[a:b] for k, v in out.items()}
    return out[a:b]
