"""Live events between server processes (`smart_support.fanout`): two fanouts standing for two
processes, over PostgreSQL LISTEN/NOTIFY on one real database and over a real Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from pg_admin import PG_ADMIN_URL, database_down
from smart_support.escalation.people import PersonMessage
from smart_support.fanout import PostgresFanout, RedisFanout, channel
from smart_support.fanout.channel import CHANNEL, Channel
from smart_support.fanout.postgres import PART_CHARS
from smart_support.runtime.events import ReplyEnd, Token, TurnError

WAIT = 30.0
#: The machine's Redis (started by `make redis`); each test has a channel of its own there.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

Make = Callable[..., Channel]


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


@pytest.fixture(params=["postgres", "redis"])
def make(request: pytest.FixtureRequest, pg_url: str) -> Make:
    """Makes fanouts of one adapter that hear each other (one database; one Redis channel)."""
    channel = f"smart-support-test:{uuid.uuid4().hex}"

    def build(deliver: Callable[[Any], None], **options: Any) -> Channel:
        if request.param == "postgres":
            return PostgresFanout(pg_url, deliver, **options)
        return RedisFanout(REDIS_URL, deliver, channel=channel, **options)

    return build


@pytest.fixture
async def pair(make: Make) -> AsyncIterator[tuple[Channel, Channel, Heard]]:
    """A sender and a listener; what the listener heard."""
    heard = Heard()
    sender, listener = make(lambda _: None), make(heard)
    await sender.start()
    await listener.start()
    try:
        yield sender, listener, heard
    finally:
        await sender.stop()
        await listener.stop()


async def test_events_reach_the_other_process_once_in_order_with_operator_fields(
    pair: tuple[Channel, Channel, Heard],
) -> None:
    sender, _, heard = pair
    for n in range(40):  # published while one batch is in flight: they travel together in a few
        sender.publish(Token(conversation_id="c1", agent="orders", text=f"{n} "))
    large = "é" * (PART_CHARS * 2)  # about 28 KB of JSON: several parts of a NOTIFY batch
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


async def test_a_process_does_not_hear_its_own_events_nor_foreign_messages(
    pair: tuple[Channel, Channel, Heard], pg_url: str
) -> None:
    _, listener, heard = pair
    listener.publish(ReplyEnd(conversation_id="c2", agent="a", text="mine"))
    await listener.flush()
    foreign = ["not ours at all", 'abc 1 0 1 [{"type":"x"}]', "abc 1 [1, 2]", "abc 1 {"]
    if isinstance(listener, PostgresFanout):
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as other:
            for payload in foreign:
                await other.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
    else:
        publisher = aioredis.from_url(REDIS_URL)
        for payload in foreign:
            await publisher.publish(listener.channel, payload)
        await publisher.aclose()
    await asyncio.sleep(0.5)
    assert heard.events == []


async def test_events_of_conversations_nobody_follows_here_are_not_delivered(make: Make) -> None:
    heard = Heard()
    sender = make(lambda _: None)
    listener = make(heard, wants=lambda conversation: conversation == "mine")
    await sender.start()
    await listener.start()
    try:
        for conversation in ("theirs", "mine", "theirs", "mine"):
            sender.publish(ReplyEnd(conversation_id=conversation, agent="a", text=conversation))
        await sender.flush()
        events = await heard.at_least(2)
        await asyncio.sleep(0.2)
    finally:
        await sender.stop()
        await listener.stop()
    assert [e.text for e in events] == ["mine", "mine"]


async def test_a_postgres_listener_whose_connection_was_cut_hears_again(pg_url: str) -> None:
    heard = Heard()
    sender, listener = PostgresFanout(pg_url, lambda _: None), PostgresFanout(pg_url, heard)
    await sender.start()
    await listener.start()
    name = pg_url.rsplit("/", 1)[1]
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            cut = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                " AND application_name = 'smart-support-fanout-listen'",
                (name,),
            ).fetchall()
        assert cut == [(True,), (True,)]  # both processes listen
        await hears_again(sender, heard)
    finally:
        await sender.stop()
        await listener.stop()


async def test_a_redis_listener_whose_connection_was_cut_hears_again() -> None:
    heard = Heard()
    channel = f"smart-support-test:{uuid.uuid4().hex}"
    sender = RedisFanout(REDIS_URL, lambda _: None, channel=channel)
    listener = RedisFanout(REDIS_URL, heard, channel=channel)
    await sender.start()
    await listener.start()
    admin = aioredis.from_url(REDIS_URL)
    try:
        killed = 0
        for client in await admin.client_list():
            if client["name"] == f"smart-support-listen-{listener.origin}":
                killed += await admin.execute_command("CLIENT", "KILL", "ID", client["id"])
        assert killed == 1
        await hears_again(sender, heard)
    finally:
        await admin.aclose()
        await sender.stop()
        await listener.stop()


async def hears_again(sender: Channel, heard: Heard) -> None:
    """The listener reconnects by itself within seconds: what is published then arrives."""
    async with asyncio.timeout(WAIT):
        while not heard.events:
            sender.publish(ReplyEnd(conversation_id="c3", agent="a", text="x"))
            await sender.flush()
            await asyncio.sleep(0.2)
    assert all(e.conversation_id == "c3" for e in heard.events)


async def test_publishing_while_redis_is_unreachable_neither_raises_nor_blocks() -> None:
    fanout = RedisFanout("redis://127.0.0.1:1/0", lambda _: None)  # nothing listens there
    await fanout.start()
    try:
        async with asyncio.timeout(WAIT):
            fanout.publish(ReplyEnd(conversation_id="c5", agent="a", text="x"))
            await fanout.flush()
    finally:
        await fanout.stop()


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


async def test_while_the_carrier_is_away_turns_do_not_wait_and_it_is_tried_again_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(channel, "RECONNECT_SECONDS", 60.0)  # no second attempt in this test
    attempts: list[int] = []

    class Counted(RedisFanout):
        async def _send_batch(self, number: int, text: str) -> None:
            attempts.append(number)
            await super()._send_batch(number, text)

    fanout = Counted("redis://127.0.0.1:1/0", lambda _: None)  # nothing listens there
    await fanout.start()
    try:
        fanout.publish(ReplyEnd(conversation_id="c6", agent="a", text="first"))
        await fanout.flush()  # this turn waited for the one attempt, which failed
        for n in range(5):  # the next turns do not wait, and nothing is tried for a while
            fanout.publish(ReplyEnd(conversation_id="c6", agent="a", text=str(n)))
            await fanout.flush()
        await asyncio.sleep(0.2)
    finally:
        await fanout.stop()
    assert attempts == [1]
