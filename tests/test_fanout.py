"""Live events between server processes over PostgreSQL LISTEN/NOTIFY (`smart_support.fanout`),
two fanouts on one real database standing for two processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from pg_admin import PG_ADMIN_URL, database_down
from smart_support.escalation.people import PersonMessage
from smart_support.fanout import PostgresFanout
from smart_support.fanout.postgres import CHANNEL, PART_CHARS
from smart_support.runtime.events import ReplyEnd, Token, TurnError

WAIT = 30.0


class Heard:
    """What one fanout delivered, with a way to wait for it."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._changed = asyncio.Event()

    def __call__(self, event: Any) -> None:
        self.events.append(event)
        self._changed.set()

    async def at_least(self, count: int) -> list[Any]:
        async with asyncio.timeout(WAIT):
            while len(self.events) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.events


@pytest.fixture
async def pair(pg_url: str) -> AsyncIterator[tuple[PostgresFanout, PostgresFanout, Heard]]:
    """A sender and a listener on one database; what the listener heard."""
    heard = Heard()
    sender, listener = PostgresFanout(pg_url, lambda _: None), PostgresFanout(pg_url, heard)
    await sender.start()
    await listener.start()
    try:
        yield sender, listener, heard
    finally:
        await sender.stop()
        await listener.stop()


async def test_events_reach_the_other_process_once_in_order_with_operator_fields(
    pair: tuple[PostgresFanout, PostgresFanout, Heard],
) -> None:
    sender, _, heard = pair
    for n in range(40):  # published while one batch is in flight: they travel together in a few
        sender.publish(Token(conversation_id="c1", agent="orders", text=f"{n} "))
    large = "é" * (PART_CHARS * 2)  # about 28 KB of JSON: several parts of one batch
    sender.publish(
        TurnError(conversation_id="c1", code="internal", message=large, detail="KeyError: 'x'")
    )
    sender.publish(PersonMessage(conversation_id="c1", name="Sam", text="Hi"))
    sender.publish(ReplyEnd(conversation_id="c1", agent="orders", text="0 1"))
    await sender.flush()
    events = await heard.at_least(43)
    await asyncio.sleep(0.2)  # nothing more arrives later
    assert len(heard.events) == 43
    assert [e.text for e in events[:40]] == [f"{n} " for n in range(40)]
    error, person, end = events[40:]
    assert isinstance(error, TurnError) and error.message == large
    assert error.detail == "KeyError: 'x'"  # operator-only, kept for the operator sockets
    assert isinstance(person, PersonMessage) and person.name == "Sam"
    assert isinstance(end, ReplyEnd) and end.text == "0 1"


async def test_a_process_does_not_hear_its_own_events_nor_foreign_notifications(
    pair: tuple[PostgresFanout, PostgresFanout, Heard], pg_url: str
) -> None:
    _, listener, heard = pair
    listener.publish(ReplyEnd(conversation_id="c2", agent="a", text="mine"))
    await listener.flush()
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as other:
        await other.execute("SELECT pg_notify(%s, %s)", (CHANNEL, "not ours at all"))
        await other.execute("SELECT pg_notify(%s, %s)", (CHANNEL, 'abc 1 0 1 [{"type":"x"}]'))
    await asyncio.sleep(0.5)
    assert heard.events == []


async def test_a_listener_whose_connection_was_cut_hears_again(
    pair: tuple[PostgresFanout, PostgresFanout, Heard], pg_url: str
) -> None:
    sender, _, heard = pair
    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        cut = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
            " AND application_name = 'smart-support-fanout-listen'",
            (name,),
        ).fetchall()
    assert cut == [(True,), (True,)]  # both processes listen
    async with asyncio.timeout(WAIT):  # the listener reconnects by itself within seconds
        while not heard.events:
            sender.publish(ReplyEnd(conversation_id="c3", agent="a", text="x"))
            await sender.flush()
            await asyncio.sleep(0.2)
    assert all(e.conversation_id == "c3" for e in heard.events)


async def test_publishing_while_the_database_is_away_neither_raises_nor_blocks(
    pg_url: str,
) -> None:
    fanout = PostgresFanout(pg_url, lambda _: None)
    await fanout.start()
    try:
        with database_down(pg_url):
            async with asyncio.timeout(WAIT):
                fanout.publish(ReplyEnd(conversation_id="c4", agent="a", text="x"))
                await fanout.flush()
    finally:
        await fanout.stop()
