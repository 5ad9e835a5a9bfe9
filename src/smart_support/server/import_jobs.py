"""Imports as background jobs: queued, run a few at a time, their progress stored and pushed.

`POST /api/v1/operator/imports` (server/imports.py) stores a job and answers 202; a worker of
`ImportJobs` takes it (`claim_import_job`, a compare-and-set), runs the import (the `Runner` that
imports.py hands in: this module knows jobs, not specs) and records each stage on the job's row,
then the draft it made (`ready`) or why it failed (`failed`, with an error code). Every change of
a job is published to the operator sockets (server/operator_ws.py) and readable at
`GET /api/v1/operator/import-jobs/{id}`.

A job keeps its whole request (the document included), so a server that stops mid-import loses
nothing: the jobs it left running are queued again and run from the start, once; a job
interrupted a second time fails with "interrupted by a restart" rather than crash a server over
and over. No job stays running. With one server (SQLite) that happens at its next start. With
several on one PostgreSQL database, a worker touches its job every `HEARTBEAT_SECONDS`, and every
server looks for jobs nobody touched for `STALE_SECONDS` (their server died): a live server's
jobs are never taken, a dead one's are resumed by another within about a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from smart_support.server.errors import ApiError
from smart_support.server.protocol import ID_PATTERN, ImportProgressFrame
from smart_support.server.rest import EngineDep, OperatorDep
from smart_support.store.base import Store
from smart_support.store.records import ImportDraft, ImportJob, ImportJobStatus

log = logging.getLogger("smart_support.server")

router = APIRouter()

JOBS_PATH = "/api/v1/operator/import-jobs"
JobId = Annotated[str, Path(pattern=ID_PATTERN)]

#: Jobs run at the same time by one server; more wait, queued.
CONCURRENT_JOBS = 2
#: A job that was running when the server stopped runs again at most this often in all.
MAX_ATTEMPTS = 2
INTERRUPTED = "The import was interrupted by a restart of the server; import the spec again."
#: Seconds between looks at the queue when nothing woke the workers (jobs queued elsewhere).
POLL_SECONDS = 2.0
#: Several servers: how often a worker touches the job it runs, and after how long without a
#: touch a running job is taken as its server's death.
HEARTBEAT_SECONDS = 10.0
STALE_SECONDS = 60.0
#: Progress updates waiting for one operator socket; a socket this far behind is dropped.
SUBSCRIBER_QUEUE = 256


class JobFailed(Exception):
    """The import cannot be done; `message` is for the operator, `code` an error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


#: The statuses in the order a job takes them.
ORDER: tuple[ImportJobStatus, ...] = (
    "queued",
    "fetching",
    "validating",
    "parsing",
    "classifying",
    "ready",
    "failed",
)


@dataclass(frozen=True)
class Step:
    """One progress report of a running import."""

    status: ImportJobStatus
    stage: str = ""
    done: int = 0
    total: int = 0


class Progress:
    """What a runner reports as it goes: `report` may be called from any thread (`convert` runs
    in a worker thread). Reports are written in order; consecutive ones of the same status are
    coalesced, so a job's row is not written once per operation."""

    def __init__(self, write: Callable[[Step], Awaitable[None]]) -> None:
        self._write = write
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Step | None] = asyncio.Queue()
        self._last: Step | None = None
        self._task = asyncio.create_task(self._flush(), name="import-progress")

    def report(
        self, status: ImportJobStatus, stage: str = "", done: int = 0, total: int = 0
    ) -> None:
        self._loop.call_soon_threadsafe(self._enqueue, Step(status, stage, done, total))

    def _enqueue(self, step: Step) -> None:
        # Reports relayed from a worker process may arrive late: a job never goes back.
        last = self._last
        if last is not None and (ORDER.index(step.status), step.done) < (
            ORDER.index(last.status),
            last.done,
        ):
            return
        self._last = step
        self._queue.put_nowait(step)

    async def _flush(self) -> None:
        while (step := await self._queue.get()) is not None:
            while not self._queue.empty():
                following = self._queue.get_nowait()
                if following is None or following.status != step.status:
                    await self._write(step)
                    if following is None:
                        return
                step = following
            await self._write(step)

    async def close(self) -> None:
        """Write what is left; after this the runner's reports are ignored."""
        self._last = Step("ready")  # nothing comes after
        self._queue.put_nowait(None)
        await self._task


#: Runs one import: the stored request, who asked, and where to report; returns the draft made.
#: Raises JobFailed for what the operator must fix (a refused URL, a broken spec).
Runner = Callable[[dict[str, Any], str, Progress], Awaitable[ImportDraft]]


class ImportJobs:
    """The queue of imports of one server: workers, waiters and progress subscribers."""

    def __init__(
        self,
        store: Store,
        runner: Runner,
        *,
        concurrency: int = CONCURRENT_JOBS,
        stale_seconds: float | None = None,
    ) -> None:
        """`stale_seconds`: None when this is the store's only server (SQLite): the jobs left
        running are resumed at start. Otherwise the heartbeat age after which a running job
        is taken as left behind by a server that died (checked at start and as it runs)."""
        self.store = store
        self.runner = runner
        self.concurrency = concurrency
        self.stale_seconds = stale_seconds
        self._wake = asyncio.Event()
        self._subscribers: set[asyncio.Queue[ImportJob | None]] = set()
        self._workers: list[asyncio.Task[None]] = []

    # life ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Queue again (or fail) the jobs a stopped server left running, then start workers
        (and, with several servers, the look for jobs whose server died)."""
        await self._recover()
        self._workers = [
            asyncio.create_task(self._work(), name=f"import-worker-{n}")
            for n in range(self.concurrency)
        ]
        if self.stale_seconds is not None:
            self._workers.append(asyncio.create_task(self._reap(), name="import-reaper"))

    async def _recover(self) -> int:
        stale_before = None
        if self.stale_seconds is not None:
            stale_before = datetime.now(UTC) - timedelta(seconds=self.stale_seconds)
        try:
            recovered = await self.store.recover_import_jobs(
                max_attempts=MAX_ATTEMPTS, error=INTERRUPTED, stale_before=stale_before
            )
        except Exception:  # a store outage must not keep the chat from serving
            log.exception("could not recover interrupted import jobs; retried later")
            return 0
        for job in recovered:
            log.warning("import job %s was interrupted by a restart: %s", job.id, job.status)
        if recovered:
            self._wake.set()
        return len(recovered)

    async def _reap(self) -> None:
        assert self.stale_seconds is not None
        while True:
            await asyncio.sleep(self.stale_seconds / 2)
            await self._recover()

    async def stop(self) -> None:
        """Stop the workers. A job they were running stays in its running status, and the next
        start queues it again: stopping is the same as a crash, on purpose (one path)."""
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    # submitting and following -------------------------------------------------------------

    async def submit(self, request: dict[str, Any], created_by: str) -> ImportJob:
        """Store a queued job and wake a worker."""
        job = await self.store.create_import_job(
            f"job_{secrets.token_urlsafe(12)}", request=request, created_by=created_by
        )
        self._publish(job)
        self._wake.set()
        return job

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[ImportJob | None]]:
        """Every change of every job from now on; None when the server stops or this
        subscriber fell SUBSCRIBER_QUEUE updates behind."""
        queue: asyncio.Queue[ImportJob | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    async def wait(self, job_id: str) -> ImportJob:
        """The job once it has ended (ready or failed)."""
        async with self.subscribe() as updates:
            job = await self.store.get_import_job(job_id)
            while job is not None and not job.finished:
                try:
                    update = await asyncio.wait_for(updates.get(), POLL_SECONDS)
                except TimeoutError:  # run by another process, or we fell behind
                    job = await self.store.get_import_job(job_id)
                    continue
                if update is None:
                    raise ApiError("store_unavailable", "The server is stopping; retry.")
                if update.id == job_id:
                    job = update
        if job is None:
            raise LookupError(job_id)
        return job

    def _publish(self, job: ImportJob) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(job)
            except asyncio.QueueFull:  # a socket that does not read: it gets None and goes
                self._subscribers.discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)

    # running --------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            try:
                job = await self.store.claim_import_job()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("import worker cannot reach the store (%s); retrying", exc)
                job = None
            if job is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
                continue
            heartbeat = asyncio.create_task(self._heartbeat(job.id), name=f"beat-{job.id}")
            try:
                await self._run(job)
            finally:
                heartbeat.cancel()

    async def _heartbeat(self, job_id: str) -> None:
        if self.stale_seconds is None:
            return
        while True:
            await asyncio.sleep(min(HEARTBEAT_SECONDS, self.stale_seconds / 4))
            try:
                await self.store.touch_import_job(job_id)
            except Exception as exc:  # the store is away: the next beat tries again
                log.warning("import job %s: heartbeat not stored (%s)", job_id, exc)

    async def _update(self, job_id: str, **fields: Any) -> None:
        updated = await self.store.update_import_job(job_id, **fields)
        if updated is not None:
            self._publish(updated)

    async def _run(self, job: ImportJob) -> None:
        assert job.request is not None  # claimed with it
        self._publish(job)
        log.info("import job %s started (attempt %d)", job.id, job.attempts)

        async def write(step: Step) -> None:
            await self._update(
                job.id, status=step.status, stage=step.stage, done=step.done, total=step.total
            )

        progress = Progress(write)
        try:
            draft = await self.runner(job.request, job.created_by, progress)
        except JobFailed as exc:
            await progress.close()
            log.info("import job %s failed: %s", job.id, exc.code)
            await self._update(job.id, status="failed", error=exc.message, error_code=exc.code)
            return
        except asyncio.CancelledError:  # the server stops: the next start queues it again
            await asyncio.shield(progress.close())
            raise
        except Exception:
            await progress.close()
            log.exception("import job %s failed unexpectedly", job.id)
            await self._update(
                job.id,
                status="failed",
                error="The import failed unexpectedly; the server's log has the details.",
                error_code="internal_error",
            )
            return
        await progress.close()
        total = draft.counts.get("operations", 0)
        await self._update(job.id, status="ready", done=total, total=total, draft_id=draft.id)
        log.info("import job %s ready: draft %s", job.id, draft.id)


@asynccontextmanager
async def running(
    store: Store, runner: Runner, *, stale_seconds: float | None = None
) -> AsyncIterator[ImportJobs]:
    """The app's import jobs from start-up to shutdown (server/app.py's lifespan);
    `stale_seconds` as ImportJobs takes it."""
    jobs = ImportJobs(store, runner, stale_seconds=stale_seconds)
    await jobs.start()
    try:
        yield jobs
    finally:
        await jobs.stop()


def jobs_of(request: Request) -> ImportJobs:
    jobs: ImportJobs = request.app.state.import_jobs
    return jobs


# REST -----------------------------------------------------------------------------------------


class ImportJobOut(BaseModel):
    """An import job as the console shows it."""

    id: str
    status: ImportJobStatus
    stage: str
    done: int
    total: int
    draft_id: str | None
    error: str | None
    error_code: str | None
    attempts: int
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, job: ImportJob) -> ImportJobOut:
        return cls.model_validate(job, from_attributes=True)


def progress_frame(job: ImportJob) -> ImportProgressFrame:
    """The operator socket's view of a job change."""
    return ImportProgressFrame(
        job_id=job.id,
        status=job.status,
        stage=job.stage,
        done=job.done,
        total=job.total,
        draft_id=job.draft_id,
        error=job.error,
        error_code=job.error_code,
    )


@router.get(JOBS_PATH, tags=["operator"])
async def list_import_jobs(
    engine: EngineDep, _: OperatorDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[ImportJobOut]:
    """Import jobs, newest first."""
    return [ImportJobOut.from_record(j) for j in await engine.store.list_import_jobs(limit)]


@router.get(JOBS_PATH + "/{job_id}", tags=["operator"])
async def get_import_job(job_id: JobId, engine: EngineDep, _: OperatorDep) -> ImportJobOut:
    """One import job: its status, stage, classification progress, and its draft once ready."""
    job = await engine.store.get_import_job(job_id)
    if job is None:
        raise ApiError("not_found", f"There is no import job {job_id}.")
    return ImportJobOut.from_record(job)


__all__ = [
    "CONCURRENT_JOBS",
    "JOBS_PATH",
    "ImportJobOut",
    "ImportJobs",
    "JobFailed",
    "Progress",
    "Runner",
    "jobs_of",
    "progress_frame",
    "router",
    "running",
]
