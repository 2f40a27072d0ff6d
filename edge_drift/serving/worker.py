"""One worker thread owns the models and runs jobs in FIFO order from a bounded queue.

llama.cpp contexts must not be driven from two threads, and on a 2-core laptop two generations at once
only slow each other down; so requests wait their turn instead of interrupting the running one.
"""
from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, Callable

DEFAULT_QUEUE_SIZE = 8  # requests that may wait while one runs
# One answer may hold the worker this long; past it the answer ends as if max_tokens were reached (finish_reason
# "length"): a slow strategy asked for the whole context would otherwise run for minutes on 2 cores.
DEFAULT_MAX_SECONDS = 300.0


class QueueFull(Exception):
    """Every waiting slot is taken: the caller should answer 503 with Retry-After."""


class Cancelled(Exception):
    """The client went away before its job started."""


class Job:
    """A unit of work for the worker plus a channel back to the event loop that submitted it.

    The work function runs on the worker thread as work(owner, job); it may `emit` items as it goes (a
    streamed answer's events) and should stop early when `job.cancelled` is set. The loop side reads
    ("item", x) ... then ("result", value) or ("error", exception) with `await job.next()`.
    """

    def __init__(self, work: Callable[[Any, "Job"], Any], loop: asyncio.AbstractEventLoop):
        self.work = work
        self.loop = loop
        self.cancelled = threading.Event()
        self._channel: asyncio.Queue = asyncio.Queue()

    def emit(self, item) -> None:
        self.loop.call_soon_threadsafe(self._channel.put_nowait, ("item", item))

    def finish(self, kind: str, value) -> None:
        try:
            self.loop.call_soon_threadsafe(self._channel.put_nowait, (kind, value))
        except RuntimeError:  # the event loop is gone (server shutting down): nobody is waiting
            pass

    async def next(self) -> tuple[str, Any]:
        return await self._channel.get()

    async def result(self):
        """Wait for the end of the job (items are skipped); raises the job's exception."""
        while True:
            kind, value = await self.next()
            if kind == "result":
                return value
            if kind == "error":
                raise value

    def cancel(self) -> None:
        self.cancelled.set()


class Worker:
    """The single consumer of a bounded FIFO queue; `queue_size` jobs may wait while one runs."""

    def __init__(self, owner, queue_size: int = DEFAULT_QUEUE_SIZE):
        if queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        self.owner = owner
        self.queue_size = queue_size
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name="edge-drift-worker", daemon=True)
        self.current: Job | None = None
        self.completed = 0
        self.cancelled = 0  # jobs that stopped early because their client went away

    def start(self) -> None:
        self._thread.start()

    @property
    def waiting(self) -> int:
        return self._jobs.qsize()

    def submit(self, work: Callable[[Any, Job], Any]) -> Job:
        """Queue work from the event loop; raises QueueFull at once when no slot is free."""
        job = Job(work, asyncio.get_running_loop())
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            raise QueueFull from None
        return job

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if job.cancelled.is_set():
                job.finish("error", Cancelled())
                continue
            self.current = job
            try:
                result = job.work(self.owner, job)
                self.cancelled += job.cancelled.is_set()
                job.finish("result", result)
            except Exception as exc:  # the job's caller turns it into an HTTP error
                job.finish("error", exc)
            finally:
                self.current = None
                self.completed += 1

    def stop(self, timeout: float = 30.0) -> bool:
        """Cancel the running job, drain the queue, wait for the thread; True when it has ended."""
        if self.current is not None:
            self.current.cancel()
        while True:
            try:
                pending = self._jobs.get_nowait()
            except queue.Empty:
                break
            if pending is not None:
                pending.cancel()
                pending.finish("error", Cancelled())
        if not self._thread.is_alive():
            return True
        self._jobs.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()
