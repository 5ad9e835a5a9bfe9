"""Events across processes by PostgreSQL ``LISTEN``/``NOTIFY`` (see the package docstring).

Each process keeps two connections of its own, outside the store's pool: one that listens and
one that sends. A sender task takes every event waiting, so tokens streamed while one
notification is in flight go together in the next. A batch is JSON, cut into parts that fit
``NOTIFY``'s 8,000-byte payload, all sent by one statement: PostgreSQL delivers a statement's
notifications together and in order. Each part names its process, so a process skips its own.

Why a connection of each kind and not the pool: a listening connection must stay open to keep
receiving; a sending one keeps the batches in order (one statement at a time) and is never
stuck behind the pool's checkouts in a busy turn.

Publishing does not wait: a turn's events are queued and sent in batches while it runs, and the
turn waits once, at its end (`flush`, before the conversation lock is released), so the next
holder of the lock, in any process, publishes after them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

from psycopg import AsyncConnection
from pydantic import BaseModel, ValidationError

from smart_support.fanout.codec import decode, encode
from smart_support.store.pg_pool import UNAVAILABLE, normalize_url

log = logging.getLogger("smart_support.fanout")

CHANNEL = "smart_support_events"
#: Characters of JSON per notification (the JSON is ASCII, so bytes too), under the
#: server's 8,000-byte payload limit with room for the part's header.
PART_CHARS = 7000
#: Seconds between attempts to listen again after the connection was lost.
RECONNECT_SECONDS = 1.0
#: The longest a turn waits for its events to be sent (connect timeout plus a retry's).
FLUSH_SECONDS = 15.0
#: Parts of batches still being received, per process, before an incomplete one is dropped.
MAX_OPEN_BATCHES = 64
_SEND = (
    "SELECT pg_notify(%s, part) FROM unnest(%s::text[]) WITH ORDINALITY AS p(part, n) ORDER BY n"
)


def parts(origin: str, number: int, events: list[dict[str, Any]]) -> list[str]:
    """The notifications carrying `events`: ``origin number index count json-part``."""
    text = json.dumps(events, separators=(",", ":"), ensure_ascii=True)
    chunks = [text[i : i + PART_CHARS] for i in range(0, len(text), PART_CHARS)] or [""]
    return [f"{origin} {number} {i} {len(chunks)} {chunk}" for i, chunk in enumerate(chunks)]


class PostgresFanout:
    """Publishes this process's events and delivers the other processes' (`deliver`).

    Args:
        url: The database URL (the one the store uses).
        deliver: Called with each event another process published, in order.
        wants: Whether a conversation's events are wanted here (someone follows it); all
            are, by default.
        origin: This process's name on the channel; random by default.
    """

    def __init__(
        self,
        url: str,
        deliver: Callable[[Any], None],
        *,
        wants: Callable[[str], bool] | None = None,
        origin: str | None = None,
    ) -> None:
        self.url = normalize_url(url)
        self.deliver = deliver
        #: Whether anyone here follows a conversation: the others' events of conversations
        #: nobody here follows are dropped before they are rebuilt (most of them, with many
        #: processes: each process hears every other's).
        self.wants = wants or (lambda _: True)
        self.origin = origin or secrets.token_hex(8)
        #: Events to send, and flush marks (None, a future set once all before it are sent).
        self._queue: asyncio.Queue[tuple[dict[str, Any] | None, asyncio.Future[None] | None]] = (
            asyncio.Queue()
        )
        self._number = 0
        self._sender: AsyncConnection[Any] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._listening = asyncio.Event()
        self._failing = False
        #: Batches being received: (origin, number) -> parts so far.
        self._partial: dict[tuple[str, int], list[str]] = {}

    async def start(self) -> None:
        """Start listening and sending; returns once listening (or after one failed attempt:
        a database that is away now is retried in the background)."""
        self._tasks = [
            asyncio.create_task(self._listen(), name="fanout-listen"),
            asyncio.create_task(self._send(), name="fanout-send"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 10)

    async def stop(self) -> None:
        while not self._queue.empty():  # nobody waits for what was not sent
            _, future = self._queue.get_nowait()
            if future is not None and not future.done():
                future.set_result(None)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._sender is not None:
            with contextlib.suppress(Exception):
                await self._sender.close()

    def publish(self, event: BaseModel) -> None:
        self._queue.put_nowait((encode(event), None))

    async def flush(self) -> None:
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((None, future))
        try:  # the sender always settles it; the timeout only guards a turn against a bug
            await asyncio.wait_for(asyncio.shield(future), FLUSH_SECONDS)
        except TimeoutError:
            log.error("live events were not sent within %.0f s; going on", FLUSH_SECONDS)

    # sending ---------------------------------------------------------------------------------

    async def _send(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            events = [e for e, _ in batch if e is not None]
            try:
                if events:
                    self._number += 1
                    await self._notify(parts(self.origin, self._number, events))
                if self._failing:
                    log.info("publishing live events to the other processes works again")
                    self._failing = False
            except Exception as exc:  # never stop sending: a turn waits on its flush
                if not self._failing:
                    log.warning(
                        "live events could not be sent to the other processes (%r); their"
                        " sockets read them from the transcript when they resume",
                        exc,
                    )
                    self._failing = True
            finally:
                for _, future in batch:
                    if future is not None and not future.done():
                        future.set_result(None)

    async def _notify(self, notifications: list[str]) -> None:
        for attempt in (1, 2):  # a connection found dead is replaced once
            try:
                if self._sender is None or self._sender.closed:
                    self._sender = await AsyncConnection.connect(
                        self.url,
                        autocommit=True,
                        connect_timeout=5,
                        application_name="smart-support-fanout",
                    )
                await self._sender.execute(_SEND, (CHANNEL, notifications))
                return
            except UNAVAILABLE:
                if self._sender is not None:
                    with contextlib.suppress(Exception):
                        await self._sender.close()
                self._sender = None
                if attempt == 2:
                    raise

    # receiving -------------------------------------------------------------------------------

    async def _listen(self) -> None:
        lost = False
        while True:
            try:
                async with await AsyncConnection.connect(
                    self.url,
                    autocommit=True,
                    connect_timeout=5,
                    application_name="smart-support-fanout-listen",
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if lost:
                        log.info("hearing the other processes' live events again")
                        lost = False
                    self._listening.set()
                    async for note in conn.notifies():
                        self._received(note.payload)
            except asyncio.CancelledError:
                raise
            except UNAVAILABLE as exc:
                if not lost:
                    log.warning("not hearing the other processes' live events (%s); retrying", exc)
                    lost = True
                self._partial.clear()
            self._listening.set()  # start() does not wait for a database that is away
            await asyncio.sleep(RECONNECT_SECONDS)

    def _received(self, payload: str) -> None:
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
        try:
            listed = json.loads(chunk)
            events = [decode(d) for d in listed if self.wants(str(d.get("conversation_id")))]
        except (ValueError, ValidationError, AttributeError, TypeError) as exc:
            log.warning("ignored live events another process sent that do not read: %s", exc)
            return
        for event in events:
            self.deliver(event)


__all__ = ["CHANNEL", "PostgresFanout", "parts"]
