"""Live events across processes by PostgreSQL ``LISTEN``/``NOTIFY`` (see the package docstring).

Each process keeps two connections of its own, outside the store's pool: one that listens and
one that sends. Why not the pool: a listening connection must stay open to keep receiving; a
sending one keeps the batches in order (one statement at a time) and is never stuck behind the
pool's checkouts in a busy turn.

A batch is cut into parts that fit ``NOTIFY``'s 8,000-byte payload, all sent by one statement:
PostgreSQL delivers a statement's notifications together and in order, and in commit order
across sessions. Each part is ``origin number index count json-part``; the listener joins them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from psycopg import AsyncConnection

from smart_support.fanout.channel import CHANNEL, Channel
from smart_support.store.pg_pool import UNAVAILABLE, normalize_url

log = logging.getLogger("smart_support.fanout")

#: Characters of JSON per notification (the JSON is ASCII, so bytes too), under the
#: server's 8,000-byte payload limit with room for the part's header.
PART_CHARS = 7000
#: Batches still being received in parts, before an incomplete one is dropped.
MAX_OPEN_BATCHES = 64
_SEND = (
    "SELECT pg_notify(%s, part) FROM unnest(%s::text[]) WITH ORDINALITY AS p(part, n) ORDER BY n"
)


def parts(origin: str, number: int, text: str) -> list[str]:
    """The notifications carrying the batch `text`: ``origin number index count json-part``."""
    chunks = [text[i : i + PART_CHARS] for i in range(0, len(text), PART_CHARS)] or [""]
    return [f"{origin} {number} {i} {len(chunks)} {chunk}" for i, chunk in enumerate(chunks)]


class PostgresFanout(Channel):
    """`Channel` over the database the processes share (`url`: the store's)."""

    carrier = "PostgreSQL"

    def __init__(
        self,
        url: str,
        deliver: Callable[[Any], None],
        *,
        wants: Callable[[str], bool] | None = None,
        origin: str | None = None,
    ) -> None:
        super().__init__(deliver, wants=wants, origin=origin)
        self.url = normalize_url(url)
        self._sender: AsyncConnection[Any] | None = None
        #: Batches being received: (origin, number) -> parts so far.
        self._partial: dict[tuple[str, int], list[str]] = {}

    async def _connect(self, name: str) -> AsyncConnection[Any]:
        return await AsyncConnection.connect(
            self.url, autocommit=True, connect_timeout=5, application_name=name
        )

    async def _send_batch(self, number: int, text: str) -> None:
        notifications = parts(self.origin, number, text)
        for attempt in (1, 2):  # a connection found dead is replaced once
            try:
                if self._sender is None or self._sender.closed:
                    self._sender = await self._connect("smart-support-fanout")
                await self._sender.execute(_SEND, (CHANNEL, notifications))
                return
            except UNAVAILABLE:
                await self._close()
                if attempt == 2:
                    raise

    async def _close(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            with contextlib.suppress(Exception):
                await sender.close()

    async def _hear(self) -> None:
        self._partial.clear()
        async with await self._connect("smart-support-fanout-listen") as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            self._hearing_again()
            async for note in conn.notifies():
                self._part(note.payload)

    def _part(self, payload: str) -> None:
        try:
            origin, number, index, count, chunk = payload.split(" ", 4)
            key, at, total = (origin, int(number)), int(index), int(count)
        except ValueError:
            log.warning("ignored a notification on %s that is not ours", CHANNEL)
            return
        if origin == self.origin:
            return
        if total > 1:
            got = self._partial.setdefault(key, [])
            if len(got) != at:  # a part went missing (a reconnect in between): drop it
                self._partial.pop(key, None)
                return
            got.append(chunk)
            if len(got) < total:
                if len(self._partial) > MAX_OPEN_BATCHES:
                    self._partial.pop(next(iter(self._partial)))
                return
            chunk = "".join(self._partial.pop(key))
        self._heard(origin, chunk)


__all__ = ["PART_CHARS", "PostgresFanout", "parts"]
