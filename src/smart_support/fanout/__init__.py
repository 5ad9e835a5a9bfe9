"""Live events across server processes: what one process emits reaches the sockets of the others.

A conversation's events are made by whichever process runs its turn or decision (the
conversation lock keeps that to one at a time, across processes), but the sockets following it
may be connected to any process behind the load balancer: the customer's on one, a second tab on
another, an operator's console on a third. The engine delivers each event to its own process's
subscribers and hands it to a `Fanout`, which carries it to every other process, where it is
delivered to theirs (`Engine.deliver`).

Adapters (`channel.Channel` holds what they share: batches, flushes, reading a batch):

* `PostgresFanout` (`DATABASE_URL` is PostgreSQL): ``LISTEN``/``NOTIFY`` on the database the
  processes already share; nothing else to run.
* `RedisFanout` (PostgreSQL and `REDIS_URL` set): Redis pub/sub, for a deployment that runs
  Redis anyway or would rather keep the notifications off its database.
* `NoFanout` (SQLite): one process only (the file lock refuses a second), nothing to carry.

Order and delivery: events of a conversation reach every socket once and in the order they were
made. A process publishes them in order on one connection, and a turn or decision waits until
its events are sent before it releases the conversation lock, so the next holder of the lock
(another process) cannot publish before them; the database delivers notifications in commit
order. A process that cannot publish
(the database is away) logs it and goes on: live sockets elsewhere miss those events and read
them from the transcript when they resume, which is where they were stored anyway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from smart_support.fanout.codec import decode, encode
from smart_support.fanout.postgres import PostgresFanout
from smart_support.fanout.redis import RedisFanout
from smart_support.settings import Settings

#: What a fanout calls with each event another process made.
Deliver = Callable[[Any], None]


class Fanout(Protocol):
    """Carries events to the other server processes."""

    def publish(self, event: Any) -> None:
        """Queue `event` for the other processes (in order; never blocks, never raises)."""

    async def flush(self) -> None:
        """Return once everything published so far is sent (or could not be)."""


class NoFanout:
    """One process: nothing to carry."""

    def publish(self, event: Any) -> None:
        return None

    async def flush(self) -> None:
        return None


@asynccontextmanager
async def open_fanout(
    settings: Settings, deliver: Deliver, wants: Callable[[str], bool]
) -> AsyncIterator[Fanout]:
    """The fanout `settings` call for, hearing the others until exit: the events of the
    conversations `wants` names go to `deliver`."""
    if not settings.is_postgres:
        yield NoFanout()
        return
    fanout: PostgresFanout | RedisFanout
    if settings.redis_url:
        fanout = RedisFanout(
            settings.redis_url, deliver, wants=wants, channel=settings.redis_channel
        )
    else:
        fanout = PostgresFanout(settings.database_url, deliver, wants=wants)
    await fanout.start()
    try:
        yield fanout
    finally:
        await fanout.stop()


__all__ = [
    "Deliver",
    "Fanout",
    "NoFanout",
    "PostgresFanout",
    "RedisFanout",
    "decode",
    "encode",
    "open_fanout",
]
