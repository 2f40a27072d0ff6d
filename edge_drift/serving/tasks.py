"""Background fits the web page can poll for progress while the worker runs them."""
from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict

from .wire import as_api_error


class FitTask:
    """A background fit the page can poll: queued -> running (pairs scored, ETA) -> done or error."""

    def __init__(self, total: int):
        self.id = f"task-{uuid.uuid4().hex[:16]}"
        self.total, self.done = total, 0
        self.state = "queued"
        self.started: float | None = None
        self.result: dict | None = None
        self.error: dict | None = None

    def start(self) -> None:  # on the worker thread: plain attribute writes, read by the loop
        self.state, self.started = "running", time.monotonic()

    def progress_factory(self, total: int, label: str | None = None):
        self.total = total

        def update(n: int = 1) -> None:
            self.done += n
        return update

    def to_dict(self) -> dict:
        elapsed = time.monotonic() - self.started if self.started else 0.0
        eta = elapsed / self.done * (self.total - self.done) if self.done and self.state == "running" else None
        return {"object": "task", "id": self.id, "state": self.state, "done": self.done, "total": self.total,
                "elapsed_s": round(elapsed, 1), "eta_s": None if eta is None else round(eta, 1),
                "result": self.result, "error": self.error}


class Tasks(OrderedDict):
    """Recent background tasks (bounded), each finished by a small coroutine that waits for its job."""

    def pending(self) -> list[FitTask]:
        """Tasks queued or running: each holds a slot of the worker's queue until it ends."""
        return [task for task in self.values() if task.state in ("queued", "running")]

    def add(self, task: FitTask, job) -> None:
        self[task.id] = task
        while len(self) > 64:
            self.popitem(last=False)
        task.watcher = asyncio.ensure_future(self._finish(task, job))  # kept: a bare task may be collected

    @staticmethod
    async def _finish(task: FitTask, job) -> None:
        try:
            task.result, task.state = await job.result(), "done"
        except Exception as exc:
            task.error, task.state = as_api_error(exc).body()["error"], "error"
