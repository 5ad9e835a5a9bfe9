"""The SQLite adapter of the Store port: one file, WAL mode, one aiosqlite connection.

Each method is one SQL statement run with ``execute_fetchall`` (one hop to aiosqlite's thread),
so statements of concurrent coroutines never interleave inside a method, and SQLite's write lock
makes each statement atomic against other connections and processes too.

The small keyed statements of a turn (`DIRECT`: append an event, record usage, read a
conversation or an approval...) skip the hop: they run on the event loop's thread through a
second connection that never waits for a lock (busy timeout 0). A statement that finds the write
lock taken (the checkpointer's connection is writing) is run again the usual way, in the worker
thread, which waits up to `busy_timeout`. About 15 statements a turn each cost a round trip
through a thread and the GIL (a wake-up, a hand-over, a callback back on the loop) that is
longer than the statement itself; anything that may read many rows still goes to the thread, so
it never holds up the loop.

Unavailability: a file that cannot be opened (its directory is missing, permissions) or a write
lock held by someone else for longer than `busy_timeout` raise StoreUnavailable. The connection is
opened lazily and retried on the next call, so the store recovers by itself once the file can be
opened or the lock is released. Not detected: a file deleted (or its directory removed) while
open; on POSIX the open descriptor keeps working on the unlinked file.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from smart_support.errors import StoreUnavailable
from smart_support.observability import metrics
from smart_support.store import rows
from smart_support.store.locks import KeyedLocks
from smart_support.store.migrations import migrate_sqlite
from smart_support.store.sql import SqlStore

logger = logging.getLogger("smart_support.store")

#: Conversation locks are per process: two SqliteStore objects on one file exclude each other.
_PROCESS_LOCKS = KeyedLocks()

#: Statements (by the name the store gives them) that run on the loop's thread: one row or a
#: handful, found by key. A name not listed runs in aiosqlite's worker thread.
DIRECT = frozenset(
    {
        "append_event",
        "begin_action",
        "create_approval",
        "create_conversation",
        "finish_action",
        "get_action",
        "get_approval",
        "get_conversation",
        "record_usage",
        "set_active_agent",
    }
)
#: SQLITE_BUSY and SQLITE_LOCKED (primary result codes): another connection has the lock.
_BUSY_CODES = (5, 6)


def is_unavailable(exc: BaseException) -> bool:
    """Whether a SQLite error means "the database cannot be used right now" (not a bug of ours)."""
    if isinstance(exc, sqlite3.OperationalError | OSError):
        return True
    # Plain DatabaseError: "file is not a database", "database disk image is malformed".
    return type(exc) is sqlite3.DatabaseError


class SqliteStore(SqlStore):
    """Store on a SQLite file (every query method is SqlStore's).

    Args:
        path: The database file (created when missing; its directory must exist).
        busy_timeout: Seconds a statement waits for another writer before StoreUnavailable.
    """

    dialect = "sqlite"
    _sql = rows.SQLITE

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._conn: aiosqlite.Connection | None = None
        #: The loop thread's own connection, for DIRECT statements (opened on first use).
        self._direct: sqlite3.Connection | None = None
        self._open_lock = asyncio.Lock()
        # One connection for every coroutine: a transaction holds it, so no other coroutine's
        # statement runs inside (or is rolled back with) someone else's transaction.
        self._use_lock = asyncio.Lock()
        self._lock_key = str(self.path.resolve())

    # -- plumbing ---------------------------------------------------------------------------

    async def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            async with self._open_lock:
                if self._conn is None:
                    conn = await aiosqlite.connect(
                        str(self.path), timeout=self.busy_timeout, isolation_level=None
                    )
                    conn.row_factory = sqlite3.Row
                    try:
                        await conn.execute("PRAGMA foreign_keys=ON")
                        # WAL + NORMAL: a commit survives a crash of this process; only an OS
                        # crash or power loss can drop the last commits. FULL fsyncs every
                        # commit and made writes queue up under load.
                        await conn.execute("PRAGMA synchronous=NORMAL")
                    except BaseException:
                        await conn.close()
                        raise
                    self._conn = conn
        return self._conn

    @asynccontextmanager
    async def _translated(self, what: str) -> AsyncIterator[None]:
        try:
            yield
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            logger.warning("sqlite store unavailable during %s: %s", what, exc)
            metrics.database_error(what)
            raise StoreUnavailable(f"SQLite database {self.path} unavailable: {exc}") from exc

    def _direct_connection(self) -> sqlite3.Connection:
        if self._direct is None:
            conn = sqlite3.connect(
                str(self.path), timeout=0, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            try:
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute("PRAGMA synchronous=NORMAL")
                # A commit that checkpoints the WAL copies pages and fsyncs: leave that to the
                # worker thread's connection and the checkpointer's, off the loop.
                conn.execute("PRAGMA wal_autocheckpoint=0")
            except BaseException:
                conn.close()
                raise
            self._direct = conn
        return self._direct

    async def _fetch(self, what: str, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        async with self._translated(what), self._use_lock:
            if what in DIRECT:
                try:
                    return self._direct_connection().execute(sql, params).fetchall()
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode & 0xFF not in _BUSY_CODES:
                        raise
                    # The write lock is taken: wait for it in the worker thread, as any other.
            conn = await self._connection()
            return list(await conn.execute_fetchall(sql, params))

    @asynccontextmanager
    async def _transaction(self, what: str) -> AsyncIterator[rows.Fetch]:
        """BEGIN IMMEDIATE (the write lock up front: no deadlock between two upgraders) to
        COMMIT, holding the connection; ROLLBACK on any error."""
        async with self._translated(what), self._use_lock:
            conn = await self._connection()

            async def fetch(sql: str, params: dict[str, Any]) -> list[Any]:
                return list(await conn.execute_fetchall(sql, params))

            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield fetch
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")

    async def setup(self) -> None:
        """Apply pending migrations (in a worker thread, on a connection of their own)."""
        async with self._translated("setup"):
            await asyncio.to_thread(migrate_sqlite, self.path, busy_timeout=self.busy_timeout)
            await self._connection()
        while await self.roll_up_closed():  # closed before rollups existed
            pass

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        direct, self._direct = self._direct, None
        if direct is not None:
            direct.close()
        if conn is not None:
            await conn.close()

    # -- concurrency and size ---------------------------------------------------------------

    def conversation_lock(self, conversation_id: str) -> AbstractAsyncContextManager[None]:
        """One turn at a time per conversation within this process (not across processes)."""
        return _PROCESS_LOCKS.hold((self._lock_key, conversation_id))

    @property
    def locks_in_use(self) -> int:
        """Conversation locks held or awaited in this process (diagnostics; 0 when idle)."""
        return len(_PROCESS_LOCKS)

    def stored_bytes(self) -> int | None:
        """Size of the database file plus its write-ahead log (checkpoints share the file)."""
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += Path(f"{self.path}{suffix}").stat().st_size
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreUnavailable(f"SQLite database {self.path} unavailable: {exc}") from exc
        return total


__all__ = ["SqliteStore", "is_unavailable"]
