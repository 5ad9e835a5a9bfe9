"""Open everything durable at once: our Store and LangGraph's checkpointer, from the settings.

SQLite: the store and an AsyncSqliteSaver each get a connection of their own to the same file,
in WAL mode, so a reader never waits for the other's write. SQLite serves one process: the file
is claimed with an exclusive lock on `<database>.lock` (fcntl), and a second process opening it
gets a ConfigError (conversation locks are per process, so two servers would fork the history).

PostgreSQL: the store and an AsyncPostgresSaver share one AsyncConnectionPool (conversation locks
live apart from it, see pg_locks.py).

Usage::

    async with open_persistence(settings) as persistence:
        graph = builder.compile(checkpointer=persistence.checkpointer)
        async with persistence.store.conversation_lock(cid):
            with translate_store_errors():
                await graph.ainvoke(...)
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import aiosqlite
import psycopg
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from smart_support.errors import ConfigError, StoreUnavailable
from smart_support.settings import Settings
from smart_support.store.base import Store
from smart_support.store.pg_pool import UNAVAILABLE, make_pool, mark_suspect, normalize_url
from smart_support.store.postgres import PostgresStore
from smart_support.store.sqlite import SqliteStore

logger = logging.getLogger("smart_support.store")

#: Name of the advisory lock that serialises the checkpointer's own migrations across processes.
CHECKPOINT_SETUP_LOCK = "smart_support.checkpoint_setup"


@dataclass(frozen=True)
class Persistence:
    """What open_persistence yields.

    Attributes:
        store: Our tables (conversations, events, approvals, the action ledger, usage).
        checkpointer: LangGraph's saver, set up and ready for ``compile(checkpointer=...)``.
        dialect: ``"sqlite"`` or ``"postgres"``.
    """

    store: Store
    checkpointer: BaseCheckpointSaver[Any]
    dialect: Literal["sqlite", "postgres"]


def create_store(database_url: str, **options: Any) -> SqliteStore | PostgresStore:
    """A store for `database_url`, not yet set up (call ``await store.setup()``).

    Args:
        database_url: ``sqlite:///path`` or ``postgresql://...`` (``postgres://`` also works).
        **options: Passed to SqliteStore or PostgresStore (timeouts, pool sizes).
    """
    if database_url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(database_url, **options)
    return SqliteStore(_sqlite_path(database_url), **options)


def _sqlite_path(database_url: str) -> str:
    if not database_url.startswith("sqlite:"):
        raise ConfigError("must start with sqlite:/// or postgresql://", field="DATABASE_URL")
    path = database_url.split(":///", 1)[1] if ":///" in database_url else ""
    if not path or ":memory:" in path:
        raise ConfigError(
            "needs a file: an in-memory SQLite database cannot be shared by the store and the"
            " checkpointer",
            field="DATABASE_URL",
        )
    return path


@asynccontextmanager
async def open_persistence(settings: Settings) -> AsyncIterator[Persistence]:
    """Open the store and the checkpointer, apply both sets of migrations, close both on exit.

    Raises:
        StoreUnavailable: The database cannot be reached (the cause is chained).
        ConfigError: The URL names no usable database.
    """
    async with AsyncExitStack() as stack:
        if settings.is_postgres:
            persistence = await _open_postgres(settings.database_url, stack)
        else:
            persistence = await _open_sqlite(settings, stack)
        logger.info("persistence open (%s)", persistence.dialect)
        yield persistence


class _ProcessClaims:
    """This process's claims on SQLite files: one flock per file, shared by its openers here."""

    guard: ClassVar[threading.Lock] = threading.Lock()
    #: The real path of each lock file -> (its fd, how many openers in this process share it).
    held: ClassVar[dict[str, tuple[int, int]]] = {}


@contextmanager
def claim_sqlite_file(path: str) -> Iterator[None]:
    """Hold `<path>.lock` exclusively for this process while the block runs.

    Several openers in one process share the claim; another process gets a ConfigError naming
    its pid. The kernel drops the lock when the holder exits, even after a crash.

    Raises:
        ConfigError: Another process uses the file (DATABASE_URL).
        StoreUnavailable: The lock file cannot be created.
    """
    lock_path = os.path.realpath(path + ".lock")
    with _ProcessClaims.guard:
        if lock_path in _ProcessClaims.held:
            fd, openers = _ProcessClaims.held[lock_path]
            _ProcessClaims.held[lock_path] = (fd, openers + 1)
        else:
            _ProcessClaims.held[lock_path] = (_lock_exclusively(path, lock_path), 1)
    try:
        yield
    finally:
        with _ProcessClaims.guard:
            fd, openers = _ProcessClaims.held.pop(lock_path)
            if openers > 1:
                _ProcessClaims.held[lock_path] = (fd, openers - 1)
            else:
                os.close(fd)  # releases the flock


def _lock_exclusively(path: str, lock_path: str) -> int:
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StoreUnavailable(f"cannot create the lock file {lock_path}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        who = f"another process (pid {holder})" if holder.isdigit() else "another process"
        raise ConfigError(
            f"{who} uses the SQLite database {path}; SQLite serves one process at a time: stop"
            " it, give this one another file, or use PostgreSQL (DATABASE_URL=postgresql://...)"
            " for several processes on one history",
            field="DATABASE_URL",
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
    return fd


async def _open_sqlite(settings: Settings, stack: AsyncExitStack) -> Persistence:
    path = _sqlite_path(settings.database_url)
    try:
        # The default URL points into ./data, which a fresh checkout does not have.
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(f"cannot create the directory of {path}: {exc}") from exc
    stack.enter_context(claim_sqlite_file(path))
    store = SqliteStore(path)
    stack.push_async_callback(store.close)
    await store.setup()  # also switches the file to WAL mode
    with translate_store_errors():
        conn = await aiosqlite.connect(path)
        stack.push_async_callback(conn.close)
        await conn.execute("PRAGMA synchronous=NORMAL")  # as the store's connection (WAL)
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
    return Persistence(store=store, checkpointer=saver, dialect="sqlite")


async def _open_postgres(url: str, stack: AsyncExitStack) -> Persistence:
    # One direct connection first: a refused or unknown database fails at once with the
    # server's own words, instead of after the pool's wait for a connection.
    try:
        probe = await psycopg.AsyncConnection.connect(normalize_url(url), connect_timeout=5)
    except UNAVAILABLE as exc:
        raise StoreUnavailable(f"PostgreSQL unavailable: {exc}") from exc
    await probe.close()
    pool = make_pool(url, min_size=1, max_size=10)
    await pool.open()
    stack.push_async_callback(pool.close)
    store = PostgresStore(url, pool=pool)
    stack.push_async_callback(store.close)
    await store.setup()
    saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
    # Two processes starting together would race on the saver's unlocked migrations.
    async with store.advisory_lock(CHECKPOINT_SETUP_LOCK, poll=0.2):
        with translate_store_errors():
            await saver.setup()
    return Persistence(store=store, checkpointer=saver, dialect="postgres")


def is_store_unavailable(exc: BaseException) -> bool:
    """Whether `exc`, raised by a store or a checkpointer, means the database is unreachable.

    Plain OSError is not counted: from inside a graph it more likely comes from a tool.
    """
    if isinstance(exc, StoreUnavailable | psycopg.OperationalError | psycopg.InterfaceError):
        mark_suspect()  # connections that died meanwhile are checked before reuse
        return True
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


@contextmanager
def translate_store_errors() -> Iterator[None]:
    """Turn the checkpointer's driver errors into StoreUnavailable (the store does it itself).

    Wrap graph calls (``ainvoke``, ``astream``, ``aget_state``) with it so that a database
    outage reaches the customer as StoreUnavailable, never as a driver exception.
    """
    try:
        yield
    except StoreUnavailable:
        raise
    except Exception as exc:
        if not is_store_unavailable(exc):
            raise
        logger.warning("checkpointer database unavailable: %s", exc)
        raise StoreUnavailable(f"database unavailable: {exc}") from exc


__all__ = [
    "Persistence",
    "claim_sqlite_file",
    "create_store",
    "is_store_unavailable",
    "open_persistence",
    "translate_store_errors",
]
