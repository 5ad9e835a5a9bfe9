"""The CPU-bound part of an import (convert, report, classify) in worker processes of its own.

A server imports specs while it chats. `convert` of a 614-operation spec is seconds of pure
Python: in a thread of the server it holds the GIL, and every turn of every chat waits for it
a few milliseconds at each of its many awaits (bench/import_chat_latency.py measured the chat's
median turn 6.4 times slower during an import). In a process of its own it takes the other core
instead. The processes are spawned once, at the first import, and reused; their progress comes
back over a queue, read by a thread that calls each import's `progress` callback.

Only data crosses: the loaded `Documents` go in, the report and the classifier's proposal (JSON
documents) come out, and a spec error as its message.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Literal

from smart_support.openapi.load import Documents, SpecError

#: The statuses of an import job that `prepare` goes through.
Status = Literal["validating", "parsing", "classifying"]
#: Called with (status, stage, done, total).
ProgressCallback = Callable[[Status, str, int, int], None]


@dataclass(frozen=True)
class Prepared:
    """What an import yields for a draft: the report, the proposal and a few numbers."""

    source: str
    report: dict[str, Any]
    proposal: dict[str, Any]
    operations: int
    skipped: int


def prepare(
    documents: Documents, *, server: str | None, source: str, progress: ProgressCallback
) -> Prepared:
    """Convert loaded documents and classify the operations with the rules (synchronous).

    Raises:
        SpecError: The spec cannot be imported.
    """
    # Imported here: a worker process loads what it needs, the server module stays light.
    from smart_support.openapi.classify import classify
    from smart_support.openapi.importer import convert

    def stage(name: str) -> None:
        progress("validating" if name == "validating" else "parsing", name, 0, 0)

    result = convert(documents, server=server, source=source, progress=stage)
    report = result.report()
    total = len(result.operations)
    # The rules' classifier is one call (under 1 ms an operation): reported as a stage.
    progress("classifying", "classifying operations", 0, total)
    proposal = classify(result)
    progress("classifying", "classifying operations", total, total)
    return Prepared(
        source=result.source,
        report=report,
        proposal=proposal.model_dump(mode="json", by_alias=True),
        operations=total,
        skipped=len(result.skipped),
    )


# -- in the worker process ---------------------------------------------------------------------

_child_queue: Any = None
#: The last report of a call: every report before it has been relayed.
_DONE = "done"
#: Seconds the server waits for a finished call's last reports (a busy relay thread).
_DRAIN_SECONDS = 5.0


def _child_init(queue: Any) -> None:
    global _child_queue
    _child_queue = queue


def _child_prepare(key: str, documents: Documents, server: str | None, source: str) -> Any:
    def progress(status: Status, stage: str, done: int, total: int) -> None:
        _child_queue.put((key, status, stage, done, total))

    try:
        return prepare(documents, server=server, source=source, progress=progress)
    except SpecError as exc:  # as its message: an exception's own arguments may not pickle
        return str(exc)
    finally:
        # The result comes back another way (the pool's pipe) and may overtake the reports:
        # the server waits for this mark before it stops listening for `key`.
        _child_queue.put((key, _DONE, "", 0, 0))


# -- in the server -----------------------------------------------------------------------------


class ImportProcesses:
    """Worker processes for `prepare`, with their progress relayed to each caller."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._listeners: dict[str, ProgressCallback] = {}
        self._drained: dict[str, threading.Event] = {}

    def _started(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("spawn")  # never fork a threaded server
                queue = context.Queue()
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=context, initializer=_child_init, initargs=(queue,)
                )
                threading.Thread(
                    target=self._relay, args=(queue,), name="import-progress", daemon=True
                ).start()
            return self._pool

    def _relay(self, queue: Any) -> None:
        while True:
            key, *step = queue.get()
            if step[0] == _DONE:
                drained = self._drained.get(key)
                if drained is not None:
                    drained.set()
                continue
            listener = self._listeners.get(key)
            if listener is not None:
                listener(*step)

    async def prepare(
        self,
        key: str,
        documents: Documents,
        *,
        server: str | None,
        source: str,
        progress: ProgressCallback,
    ) -> Prepared:
        """`prepare` in a worker process; `progress` is called from a thread of this one.

        Raises:
            SpecError: The spec cannot be imported.
            BrokenProcessPool: The worker died (killed, out of memory); the next call starts
                new ones.
        """
        pool = self._started()
        self._listeners[key] = progress
        drained = self._drained[key] = threading.Event()
        try:
            future = pool.submit(_child_prepare, key, documents, server, source)
            outcome = await asyncio.wrap_future(future)
            await asyncio.to_thread(drained.wait, _DRAIN_SECONDS)  # the reports it sent first
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            self._listeners.pop(key, None)
            self._drained.pop(key, None)
        if isinstance(outcome, str):
            raise SpecError(outcome)
        assert isinstance(outcome, Prepared)
        return outcome


__all__ = ["ImportProcesses", "Prepared", "ProgressCallback", "prepare"]
