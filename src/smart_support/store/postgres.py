"""The PostgreSQL adapter of the Store port, on a psycopg AsyncConnectionPool.

The pool may be shared with LangGraph's AsyncPostgresSaver (see persistence.py). Conversation
locks are session-level advisory locks kept apart from that pool (see pg_locks.py), so a long
turn never holds one of the connections the checkpointer needs.

Unavailability: the pool waits at most `timeout` seconds for a connection and checks each one
before handing it out (``check_connection``), so a dead server fails fast as StoreUnavailable and
dead connections are replaced once it is back, without a restart.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row

from smart_support.errors import StoreUnavailable
from smart_support.observability import metrics
from smart_support.store import rows
from smart_support.store.locks import KeyedLocks
from smart_support.store.migrations import OUR_TABLES, migrate_postgres
from smart_support.store.pg_locks import AdvisoryLocks
from smart_support.store.pg_pool import (
    UNAVAILABLE,
    Pool,
    make_pool,
    mark_suspect,
    normalize_url,
)
from smart_support.store.sql import SqlStore

logger = logging.getLogger("smart_support.store")

#: LangGraph's checkpoint tables, counted by stored_bytes beside ours.
CHECKPOINT_TABLES = (
    "checkpoints",
    "checkpoint_blobs",
    "checkpoint_writes",
    "checkpoint_migrations",
)


class PostgresStore(SqlStore):
    """Store on PostgreSQL (every query method is SqlStore's).

    Args:
        url: The database URL (also used for the lock pool and stored_bytes).
        pool: A pool to share (e.g. with the checkpointer); this store then does not close it.
            Without one, the store makes and owns a pool of `max_size` connections.
        timeout: Seconds to wait for a connection before StoreUnavailable (own pools only).
        reconnect_timeout: See make_pool.
        max_size: Size of the pool the store makes when none is given.
        lock_waiters: Turns that may wait at once for a conversation another process holds.
    """

    dialect = "postgres"
    _sql = rows.POSTGRES

    def __init__(
        self,
        url: str,
        *,
        pool: Pool | None = None,
        timeout: float = 5.0,
        reconnect_timeout: float = 2.0,
        max_size: int = 10,
        lock_waiters: int = 10,
    ) -> None:
        self.url = normalize_url(url)
        self._owns_pool = pool is None
        self._pool = pool or make_pool(
            url, max_size=max_size, timeout=timeout, reconnect_timeout=reconnect_timeout
        )
        self._advisory = AdvisoryLocks(
            url, timeout=timeout, reconnect_timeout=reconnect_timeout, max_waiters=lock_waiters
        )
        self._locks = KeyedLocks()
        self._opened = False

    # -- plumbing ---------------------------------------------------------------------------

    async def _open(self) -> None:
        if not self._opened:
            if self._owns_pool:
                await self._pool.open()
            await self._advisory.open()
            self._opened = True

    def _unavailable(self, what: str, exc: BaseException) -> StoreUnavailable:
        mark_suspect()
        logger.warning("postgres store unavailable during %s: %s", what, exc)
        metrics.database_error(what)
        return StoreUnavailable(f"PostgreSQL unavailable: {exc}")

    async def _fetch(self, what: str, sql: str, params: Any = None) -> list[DictRow]:
        try:
            await self._open()
            async with (
                self._pool.connection() as conn,
                conn.cursor(row_factory=dict_row) as cur,
            ):
                await cur.execute(sql, params)
                return await cur.fetchall() if cur.description else []
        except UNAVAILABLE as exc:
            raise self._unavailable(what, exc) from exc

    @asynccontextmanager
    async def _transaction(self, what: str) -> AsyncIterator[rows.Fetch]:
        """One pooled connection in a transaction: committed at the end, rolled back on error."""
        try:
            await self._open()
            async with self._pool.connection() as conn, conn.transaction():

                async def fetch(sql: str, params: dict[str, Any]) -> list[Any]:
                    async with conn.cursor(row_factory=dict_row) as cur:
                        await cur.execute(sql, params)
                        return await cur.fetchall() if cur.description else []

                yield fetch
        except UNAVAILABLE as exc:
            raise self._unavailable(what, exc) from exc

    async def setup(self) -> None:
        """Apply pending migrations under an advisory lock (safe from several processes)."""
        try:
            await self._open()
            async with self._pool.connection() as conn:
                await migrate_postgres(conn)
        except UNAVAILABLE as exc:
            raise self._unavailable("setup", exc) from exc
        while await self.roll_up_closed():  # closed before rollups existed
            pass

    async def close(self) -> None:
        await self._advisory.close()
        if self._owns_pool:
            await self._pool.close()
        self._opened = False

    # -- concurrency and size ---------------------------------------------------------------

    def conversation_lock(self, conversation_id: str) -> AbstractAsyncContextManager[None]:
        """One turn at a time per conversation, across processes (session advisory lock)."""
        return self._conversation_lock(conversation_id)

    @asynccontextmanager
    async def _conversation_lock(self, conversation_id: str) -> AsyncIterator[None]:
        # The in-process lock is essential, not an optimisation: advisory locks are reentrant
        # within a session, so two turns of this process would both "get" the lock on the
        # shared session.
        async with self._locks.hold(conversation_id):
            try:
                await self._open()
            except UNAVAILABLE as exc:
                raise self._unavailable("conversation_lock", exc) from exc
            async with self._advisory.hold(conversation_id):
                yield

    @asynccontextmanager
    async def advisory_lock(self, name: str, *, poll: float | None = None) -> AsyncIterator[None]:
        """Hold the advisory lock `name` on a connection of its own (see AdvisoryLocks.dedicated).

        Args:
            name: What to exclude on.
            poll: Seconds between ``pg_try_advisory_lock`` attempts instead of one blocking wait
                (use it around DDL that runs ``CREATE INDEX CONCURRENTLY``).
        """
        try:
            await self._open()
        except UNAVAILABLE as exc:
            raise self._unavailable("advisory_lock", exc) from exc
        async with self._advisory.dedicated(name, poll=poll):
            yield

    @asynccontextmanager
    async def singleton(self, name: str) -> AsyncIterator[bool]:
        """`pg_try_advisory_lock(name)` on a connection of its own, held for the block; False
        at once when another process holds it."""
        try:
            await self._open()
        except UNAVAILABLE as exc:
            raise self._unavailable("singleton", exc) from exc
        async with self._advisory.attempt(name) as held:
            yield held

    @property
    def locks_in_use(self) -> int:
        """Conversation locks held or awaited in this process (diagnostics; 0 when idle)."""
        return len(self._locks)

    def stored_bytes(self) -> int | None:
        """Sum of pg_total_relation_size (data, indexes, TOAST) of our and the checkpoint tables.

        Not pg_database_size, which also counts the system catalogs (several MB of noise).
        Blocking: it opens a short synchronous connection; meant for benchmarks.
        """
        tables = [*OUR_TABLES, *CHECKPOINT_TABLES]
        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                row = conn.execute(
                    "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE c.relkind = 'r' AND n.nspname = current_schema()"
                    " AND c.relname = ANY(%s)",
                    (tables,),
                ).fetchone()
        except UNAVAILABLE as exc:
            raise self._unavailable("stored_bytes", exc) from exc
        return int(row[0]) if row else 0


__all__ = ["CHECKPOINT_TABLES", "UNAVAILABLE", "PostgresStore", "make_pool", "normalize_url"]
