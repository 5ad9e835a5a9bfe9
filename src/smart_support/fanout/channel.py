"""What every fanout adapter shares: the send queue and its batches, flushes, and the reading of
a batch another process sent. An adapter says how a batch is sent and how batches are heard.

A batch is a JSON list of events (`fanout.codec`), tagged with the sending process's `origin`
so that a process skips its own. One sender task sends the batches one at a time, in order: a
turn's tokens queued while one batch is in flight go together in the next. `flush` waits until
everything queued before it is sent (or could not be): a turn flushes once, before it releases
its conversation lock (`Engine._guarded`). While the carrier is away (a send failed), batches
are dropped for a second at a time between attempts and turns do not wait at all: a database
or a Redis that is gone never holds a turn up for its connect timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from smart_support.fanout.codec import decode, encode

log = logging.getLogger("smart_support.fanout")

#: The channel every process sends on and hears.
CHANNEL = "smart_support_events"
#: Seconds between attempts to hear the others again after the connection was lost.
RECONNECT_SECONDS = 1.0
#: The longest a turn waits for its events to be sent (a connect timeout plus a retry's).
FLUSH_SECONDS = 15.0


class Channel:
    """Publishes this process's events and delivers the other processes' (`deliver`).

    Args:
        deliver: Called with each event another process published, in order.
        wants: Whether a conversation's events are wanted here (someone follows it): the
            others' events of conversations nobody here follows are dropped before they are
            rebuilt (most of them, with many processes: each hears every other's). All are
            wanted by default.
        origin: This process's name on the channel; random by default.
        channel: The channel's name (PostgreSQL's is per database already; Redis's is per
            server, so a deployment names its own).
    """

    #: For the log: what carries the events ("PostgreSQL", "Redis").
    carrier = ""

    def __init__(
        self,
        deliver: Callable[[Any], None],
        *,
        wants: Callable[[str], bool] | None = None,
        origin: str | None = None,
        channel: str = CHANNEL,
    ) -> None:
        self.deliver = deliver
        self.channel = channel
        self.wants = wants or (lambda _: True)
        self.origin = origin or secrets.token_hex(8)
        #: Events to send, and flush marks (None, a future set once all before it are sent).
        self._queue: asyncio.Queue[tuple[dict[str, Any] | None, asyncio.Future[None] | None]] = (
            asyncio.Queue()
        )
        self._number = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._listening = asyncio.Event()
        self._failing = False

    # what an adapter supplies -------------------------------------------------------------------

    async def _send_batch(self, number: int, text: str) -> None:
        """Send one batch (`text`, JSON) as this process's `number`-th."""
        raise NotImplementedError

    async def _hear(self) -> None:
        """Listen until the connection is lost (then raise), handing each batch heard to
        `_heard`; set `_listening` once listening."""
        raise NotImplementedError

    async def _close(self) -> None:
        """Close what sending opened."""

    # life -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start hearing and sending; returns once hearing (or after one failed attempt: a
        server that is away now is retried in the background)."""
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
        with contextlib.suppress(Exception):
            await self._close()

    # sending ----------------------------------------------------------------------------------

    def publish(self, event: BaseModel) -> None:
        self._queue.put_nowait((encode(event), None))

    async def flush(self) -> None:
        if self._failing:  # the carrier is away: turns do not wait for it (nothing is kept)
            return
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((None, future))
        try:  # the sender always settles it; the timeout only guards a turn against a bug
            await asyncio.wait_for(asyncio.shield(future), FLUSH_SECONDS)
        except TimeoutError:
            log.error("live events were not sent within %.0f s; going on", FLUSH_SECONDS)

    async def _send(self) -> None:
        retry_at = 0.0
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            events = [e for e, _ in batch if e is not None]
            try:
                if events and self._failing and time.monotonic() < retry_at:
                    continue  # dropped: the carrier failed a moment ago, try again soon
                if events:
                    self._number += 1
                    text = json.dumps(events, separators=(",", ":"), ensure_ascii=True)
                    await self._send_batch(self._number, text)
                if self._failing and events:
                    log.info("publishing live events to the other processes works again")
                    self._failing = False
            except Exception as exc:  # never stop sending: a turn may wait on its flush
                retry_at = time.monotonic() + RECONNECT_SECONDS
                if not self._failing:
                    log.warning(
                        "live events could not be sent to the other processes through %s (%r);"
                        " their sockets read them from the transcript when they resume",
                        self.carrier,
                        exc,
                    )
                    self._failing = True
            finally:
                for _, future in batch:
                    if future is not None and not future.done():
                        future.set_result(None)

    # receiving --------------------------------------------------------------------------------

    async def _listen(self) -> None:
        lost = False
        while True:
            problem: BaseException | None = None
            try:
                await self._hear()  # returns or raises only when the connection is gone
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                problem = exc
            if not lost:
                log.warning(
                    "not hearing the other processes' live events through %s (%r); retrying",
                    self.carrier,
                    problem,
                )
                lost = True
            self._listening.set()  # start() does not wait for a server that is away
            await asyncio.sleep(RECONNECT_SECONDS)
            self._listening.clear()

    def _heard(self, origin: str, text: str) -> None:
        """A batch another process (or this one: skipped) sent."""
        if origin == self.origin:
            return
        try:
            listed = json.loads(text)
            events = [decode(d) for d in listed if self.wants(str(d.get("conversation_id")))]
        except (ValueError, ValidationError, AttributeError, TypeError) as exc:
            log.warning("ignored live events another process sent that do not read: %s", exc)
            return
        for event in events:
            self.deliver(event)

    def _hearing_again(self) -> None:
        """An adapter's `_hear` calls this once it listens."""
        if not self._listening.is_set():
            log.info("hearing the other processes' live events through %s", self.carrier)
        self._listening.set()


__all__ = ["CHANNEL", "FLUSH_SECONDS", "RECONNECT_SECONDS", "Channel"]
