"""Session-level advisory locks that exclude other processes, without a connection per lock.

A session-level advisory lock belongs to the session (connection) that took it. Pinning one
pooled connection per running turn would cap the turns of a process at the pool size (and a
turn lasts as long as its LLM calls). Instead:

* the fast path takes ``pg_try_advisory_lock`` on ONE shared session of this process, which can
  hold any number of locks at once; a round trip, no waiting;
* only when another process holds the lock does the turn borrow a connection from a small
  "waiters" pool and block in ``pg_advisory_lock`` there, keeping that connection until release.

The try and the unlock on the shared session are shielded from cancellation: a cancelled caller
must never leave a lock granted to the shared session with nobody to release it. If the shared
session dies, PostgreSQL drops its locks; the next call opens a new session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection

from smart_support.errors import StoreUnavailable
from smart_support.store.pg_pool import UNAVAILABLE, make_pool, normalize_url

logger = logging.getLogger("smart_support.store")

_TRY = "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))"
_WAIT = "SELECT pg_advisory_lock(hashtextextended(%s, 0))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended(%s, 0))"


def _unavailable(exc: BaseException) -> StoreUnavailable:
    logger.warning("postgres advisory lock unavailable: %s", exc)
    return StoreUnavailable(f"PostgreSQL unavailable: {exc}")


class AdvisoryLocks:
    """Advisory locks of one process on one database.

    Args:
        url: The database URL.
        timeout: Seconds to wait for a waiters-pool connection (or to connect the shared one).
        reconnect_timeout: See make_pool.
        max_waiters: Turns that may wait at once for a lock held by another process.
    """

    def __init__(
        self, url: str, *, timeout: float, reconnect_timeout: float, max_waiters: int
    ) -> None:
        self._url = normalize_url(url)
        self._connect_timeout = max(1, round(timeout))
        self._shared: AsyncConnection[Any] | None = None
        self._shared_guard = asyncio.Lock()
        self._waiters = make_pool(
            url,
            min_size=0,
            max_size=max_waiters,
            timeout=timeout,
            reconnect_timeout=reconnect_timeout,
            name="smart-support-lock-waiters",
        )
        self._background: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        await self._waiters.open()

    async def close(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        shared, self._shared = self._shared, None
        if shared is not None:
            await shared.close()
        await self._waiters.close()

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        """Hold the lock `name` for the body, waiting while another process holds it.

        Not reentrant: callers exclude themselves within the process first (KeyedLocks).
        """
        session = await self._try_shielded(name)
        if session is None:
            async with self.dedicated(name):
                yield
            return
        try:
            yield
        finally:
            await asyncio.shield(self._unlock_shared(session, name))

    # -- the shared session -----------------------------------------------------------------

    async def _shared_session(self, replace: AsyncConnection[Any] | None = None) -> Any:
        async with self._shared_guard:
            if self._shared is not None and (self._shared is replace or self._shared.closed):
                await self._shared.close()
                self._shared = None
            if self._shared is None:
                self._shared = await AsyncConnection.connect(
                    self._url,
                    autocommit=True,
                    connect_timeout=self._connect_timeout,
                    application_name="smart-support-locks",
                )
            return self._shared

    async def _try(self, name: str) -> AsyncConnection[Any] | None:
        """The session that got the lock, or None when another process holds it."""
        session = None
        try:
            for attempt in (1, 2):  # a session found dead is replaced once, then retried
                session = await self._shared_session(replace=session)
                try:
                    row = await (await session.execute(_TRY, (name,))).fetchone()
                except UNAVAILABLE:
                    if attempt == 2 or not session.closed:
                        raise
                    continue
                return session if row and row[0] else None
        except UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        raise AssertionError("unreachable")

    async def _try_shielded(self, name: str) -> AsyncConnection[Any] | None:
        task = asyncio.ensure_future(self._try(name))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(lambda done: self._undo_if_granted(done, name))
            raise

    def _undo_if_granted(self, done: asyncio.Task[AsyncConnection[Any] | None], name: str) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        session = done.result()
        if session is not None:
            undo = asyncio.ensure_future(self._unlock_shared(session, name))
            self._background.add(undo)
            undo.add_done_callback(self._background.discard)

    async def _unlock_shared(self, session: AsyncConnection[Any], name: str) -> None:
        # A replaced or dead session took its locks with it: nothing to release.
        if session is not self._shared or session.closed:
            return
        try:
            await session.execute(_UNLOCK, (name,))
        except Exception as exc:  # never hide the body's own exception behind this one
            logger.warning("could not release advisory lock %r: %s", name, exc)

    # -- a connection of its own ------------------------------------------------------------

    @asynccontextmanager
    async def dedicated(self, name: str, *, poll: float | None = None) -> AsyncIterator[None]:
        """Hold the lock on a waiters-pool connection of its own, blocking until granted.

        When the lock cannot be released cleanly (cancelled while waiting, server gone) the
        connection is closed instead of returned: ending the session is what makes PostgreSQL
        drop the lock.

        Args:
            name: What to exclude on.
            poll: Instead of one blocking wait, try every `poll` seconds. Needed around DDL
                that runs ``CREATE INDEX CONCURRENTLY`` (the checkpointer's setup): that waits
                for every running statement, including a blocked ``pg_advisory_lock`` of
                another process, which waits for us: a deadlock PostgreSQL cannot see.
        """
        async with self._on_connection(name, poll=poll, once=False):
            yield

    @asynccontextmanager
    async def attempt(self, name: str) -> AsyncIterator[bool]:
        """Try the lock once on a waiters-pool connection: yields whether it was granted (then
        held for the block, released after); no waiting."""
        async with self._on_connection(name, poll=None, once=True) as locked:
            yield locked

    @asynccontextmanager
    async def _on_connection(
        self, name: str, *, poll: float | None, once: bool
    ) -> AsyncIterator[bool]:
        """The lock on a waiters-pool connection: one blocking wait, a try every `poll`
        seconds, or (`once`) a single try; yields whether it is held."""
        try:
            conn = await self._waiters.getconn()
        except UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        locked = refused = False
        try:
            try:
                if poll is None and not once:
                    await conn.execute(_WAIT, (name,))
                    locked = True
                while not locked and not refused:
                    row = await (await conn.execute(_TRY + " AS ok", (name,))).fetchone()
                    locked = bool(row and row["ok"])
                    refused = once and not locked
                    if not (locked or refused):
                        await asyncio.sleep(poll or 0)
            except UNAVAILABLE as exc:
                raise _unavailable(exc) from exc
            yield locked
        finally:
            # A wait that did not end in the lock (cancelled, server gone) may still be granted:
            # closing the session is what drops it. A refused try leaves nothing behind.
            clean = refused
            try:
                if locked and not conn.closed:
                    await conn.execute(_UNLOCK, (name,))
                    clean = True
            except Exception as exc:  # never hide the body's own exception behind this one
                logger.warning("could not release advisory lock %r: %s", name, exc)
            finally:
                if not clean or conn.closed:
                    await conn.close()
                await self._waiters.putconn(conn)


__all__ = ["AdvisoryLocks"]
