"""Retention (`RETENTION_DAYS`): conversations closed longer ago are deleted, in short batches.

Each batch is one short store transaction (`Store.delete_closed_before`, `RETENTION_BATCH`
conversations at most); then the checkpointer loses the deleted conversations' threads (the
thread id of a conversation is its id) through the saver's own `adelete_thread`. Between batches
the sweep yields to the event loop, so chats go on while it runs, and one sweep stops after
`max_batches`: the next sweep takes the rest.

A thread whose deletion fails after its batch committed stays behind as an orphan checkpoint
(nothing reads it again); the error is raised to the caller (the sweeper logs it).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from langgraph.checkpoint.base import BaseCheckpointSaver

from smart_support.errors import ConfigError, StoreUnavailable
from smart_support.settings import Settings
from smart_support.store.base import Store
from smart_support.store.persistence import open_persistence, translate_store_errors
from smart_support.store.retention import TABLES

log = logging.getLogger("smart_support.retention")

#: Batches one sweep deletes at most (the sweeper runs again a few seconds later).
MAX_BATCHES = 10


@dataclass(frozen=True)
class RetentionReport:
    """What one retention sweep did (or, for a dry run, would do).

    Attributes:
        before: Conversations closed before this instant were due; None when retention is off.
        batches: Store transactions that deleted something (0 for a dry run).
        conversation_ids: The conversations deleted (empty for a dry run).
        rows: Rows per table (`store.retention.TABLES`): deleted, or due for a dry run.
        threads: Checkpoint threads deleted.
        more: The sweep stopped at its batch cap; conversations may still be due.
        dry_run: Nothing was deleted; `rows` counts what is due.
    """

    before: datetime | None = None
    batches: int = 0
    conversation_ids: tuple[str, ...] = ()
    rows: dict[str, int] = field(default_factory=dict)
    threads: int = 0
    more: bool = False
    dry_run: bool = False

    @property
    def conversations(self) -> int:
        """Conversations deleted (or due, for a dry run)."""
        return self.rows.get("conversations", 0)


def cutoff(settings: Settings, now: datetime | None = None) -> datetime | None:
    """The instant before which closed conversations are due; None when retention is off."""
    if not settings.retention_days:
        return None
    return (now or datetime.now(UTC)) - timedelta(days=settings.retention_days)


async def apply_retention(
    store: Store,
    checkpointer: BaseCheckpointSaver[Any] | None,
    settings: Settings,
    *,
    now: datetime | None = None,
    max_batches: int | None = MAX_BATCHES,
    dry_run: bool = False,
) -> RetentionReport:
    """Delete the conversations closed more than `retention_days` ago (nothing when it is 0),
    `retention_batch` at a time, and their checkpoint threads.

    Args:
        store: Our tables.
        checkpointer: The graph's saver (None: no checkpoints to delete).
        settings: `retention_days` and `retention_batch`.
        now: The present (tests); defaults to the clock.
        max_batches: Batches at most in this call (None: until none is due); `more` says
            the cap stopped it.
        dry_run: Count what is due and delete nothing.
    """
    before = cutoff(settings, now)
    if before is None:
        return RetentionReport()
    if dry_run:
        return RetentionReport(before, rows=await store.count_closed_before(before), dry_run=True)
    totals = dict.fromkeys(TABLES, 0)
    deleted: list[str] = []
    batches = threads = 0
    more = False
    while True:
        if batches == max_batches:
            more = True
            break
        batch = await store.delete_closed_before(before, settings.retention_batch)
        if not batch.conversation_ids:
            break
        batches += 1
        deleted.extend(batch.conversation_ids)
        for table, count in batch.rows.items():
            totals[table] = totals.get(table, 0) + count
        if checkpointer is not None:
            with translate_store_errors():  # an outage is StoreUnavailable, as the store's
                for conversation_id in batch.conversation_ids:
                    await checkpointer.adelete_thread(conversation_id)
                    threads += 1
        if len(batch.conversation_ids) < settings.retention_batch:
            break  # a short batch took the last ones
        await asyncio.sleep(0)  # let chats run between batches
    report = RetentionReport(before, batches, tuple(deleted), totals, threads, more)
    if deleted:
        log.info(
            "retention: deleted %d conversation(s) closed before %s in %d batch(es): %s;"
            " %d checkpoint thread(s)%s",
            len(deleted),
            before.isoformat(timespec="seconds"),
            batches,
            ", ".join(f"{table} {n}" for table, n in totals.items()),
            threads,
            "; more left for the next sweep" if more else "",
        )
    return report


def describe(report: RetentionReport) -> str:
    """What a sweep did, for a person: one line, then the rows per table."""
    if report.before is None:
        return "retention is off (RETENTION_DAYS=0): nothing deleted"
    before = report.before.isoformat(timespec="seconds")
    rows = ", ".join(f"{table} {report.rows.get(table, 0)}" for table in TABLES)
    if report.dry_run:
        return (
            f"dry run: {report.conversations} conversation(s) closed before {before} would be"
            f" deleted, nothing was\nrows: {rows}"
        )
    return (
        f"deleted {report.conversations} conversation(s) closed before {before} in"
        f" {report.batches} batch(es)\nrows: {rows}\ncheckpoint threads: {report.threads}"
    )


async def _run_once(settings: Settings, dry_run: bool) -> RetentionReport:
    async with open_persistence(settings) as persistence:
        return await apply_retention(
            persistence.store,
            persistence.checkpointer,
            settings,
            max_batches=None,
            dry_run=dry_run,
        )


def cli_retention(settings: Settings, *, dry_run: bool = False) -> int:
    """`smart-support retention [--dry-run]`: one sweep to the end against DATABASE_URL; prints
    what it deleted. Returns the exit status (2: a setting or the database file is in the way,
    1: the database is unavailable)."""
    if cutoff(settings) is None:
        click.echo(describe(RetentionReport()))
        return 0
    try:
        report = asyncio.run(_run_once(settings, dry_run))
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    except StoreUnavailable as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    click.echo(describe(report))
    return 0


__all__ = [
    "MAX_BATCHES",
    "RetentionReport",
    "apply_retention",
    "cli_retention",
    "cutoff",
    "describe",
]
