"""PostgreSQL connections: the pool settings shared by the store, the locks and the checkpointer."""

from __future__ import annotations

import time
import weakref

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

#: Errors that mean the server cannot be used right now (PoolTimeout is an OperationalError).
UNAVAILABLE: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    OSError,
)

Pool = AsyncConnectionPool[AsyncConnection[DictRow]]

#: A connection back in the pool for longer than this is checked (one round trip) before it is
#: handed out again; fresher ones are not. Checking every checkout cost ~9 ms per turn (LangGraph
#: takes a connection for each checkpoint write) and a connection that died since its last use
#: within this window fails its query, which the store reports as StoreUnavailable anyway.
IDLE_CHECK_SECONDS = 2.0
_returned_at: weakref.WeakKeyDictionary[AsyncConnection[DictRow], float] = (
    weakref.WeakKeyDictionary()
)


async def _note_return(conn: AsyncConnection[DictRow]) -> None:
    _returned_at[conn] = time.monotonic()


#: Until this monotonic time every checkout is checked: set when a database error was seen, so
#: connections that died in an outage are weeded out as soon as the server is back.
_suspect_until = 0.0


def mark_suspect(seconds: float = 30.0) -> None:
    """A database error was seen: check every connection handed out for a while."""
    global _suspect_until
    _suspect_until = time.monotonic() + seconds


async def _check_if_idle(conn: AsyncConnection[DictRow]) -> None:
    now = time.monotonic()
    returned = _returned_at.get(conn)
    if now < _suspect_until or returned is None or now - returned > IDLE_CHECK_SECONDS:
        await AsyncConnectionPool.check_connection(conn)


def normalize_url(url: str) -> str:
    """`postgres://` is accepted as a spelling of `postgresql://`."""
    if url.startswith("postgres://"):
        return "postgresql://" + url.removeprefix("postgres://")
    return url


def make_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    timeout: float = 5.0,
    reconnect_timeout: float = 2.0,
    connect_timeout: int = 5,
    name: str = "smart-support",
) -> Pool:
    """An unopened pool configured the way LangGraph's AsyncPostgresSaver needs it.

    Args:
        url: A `postgresql://` (or `postgres://`) URL.
        min_size: Connections kept open.
        max_size: Connections at most.
        timeout: Seconds a caller waits for a connection before the store gives up.
        reconnect_timeout: Seconds the pool keeps retrying a lost connection before it stops;
            the next request starts a new attempt, so keep it below `timeout`.
        connect_timeout: Seconds one connection attempt may take.
        name: Shown in psycopg_pool's logs.
    """
    return AsyncConnectionPool(
        normalize_url(url),
        min_size=min_size,
        max_size=max_size,
        kwargs={
            "autocommit": True,
            "prepare_threshold": 0,
            "row_factory": dict_row,
            "connect_timeout": connect_timeout,
            "application_name": "smart-support",
        },
        check=_check_if_idle,
        reset=_note_return,
        timeout=timeout,
        reconnect_timeout=reconnect_timeout,
        open=False,
        name=name,
    )


__all__ = ["UNAVAILABLE", "Pool", "make_pool", "mark_suspect", "normalize_url"]
