"""The console's conversation list (store/listing.py): filters and keyset pages, on a real SQLite
file and on real PostgreSQL, and through the operator endpoint."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from chat_client import Chat, ServerFactory, connect
from smart_support.settings import Settings
from smart_support.store import Persistence, Store, open_persistence
from smart_support.store.listing import WAITING_FOR_PEOPLE, ConversationFilter


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    persistence: Persistence
    async with open_persistence(settings) as persistence:
        yield persistence.store


async def ids(store: Store, filters: ConversationFilter, **page: object) -> list[str]:
    return [c.id for c in await store.list_conversations_page(filters, **page)]  # type: ignore[arg-type]


async def test_pages_follow_each_other_newest_first_without_repeats_or_gaps(store: Store) -> None:
    for n in range(7):
        await store.create_conversation(f"c-{n}", "hash")
    seen: list[str] = []
    before = None
    while True:
        page = await store.list_conversations_page(ConversationFilter(), 3, before)
        if not page:
            break
        seen += [c.id for c in page]
        before = (page[-1].created_at, page[-1].id)
    assert seen == [f"c-{n}" for n in reversed(range(7))]


async def test_the_list_is_narrowed_by_outcome_escalation_agent_and_date(store: Store) -> None:
    for name in ("open", "done", "sent-up", "billing"):
        await store.create_conversation(name, "hash")
    now = datetime.now(UTC)
    await store.close_conversation("done", "resolved", 1, now)
    await store.mark_escalated("sent-up")
    await store.close_conversation("sent-up", "escalated", 1, now)
    await store.set_active_agent("billing", "billing")
    await store.append_event("open", "agent_selected", "orders", {"agent": "orders"})

    everything = ConversationFilter()
    assert await ids(store, everything) == ["billing", "sent-up", "done", "open"]
    assert await ids(store, ConversationFilter(outcome="resolved")) == ["done"]
    assert await ids(store, ConversationFilter(outcome="open")) == ["billing", "open"]
    assert await ids(store, ConversationFilter(escalated=True)) == ["sent-up"]
    assert await ids(store, ConversationFilter(escalated=False)) == ["billing", "done", "open"]
    assert await ids(store, ConversationFilter(agent="billing")) == ["billing"]
    assert await ids(store, ConversationFilter(agent="orders")) == ["open"]
    hour = timedelta(hours=1)
    assert await ids(store, ConversationFilter(since=now + hour)) == []
    assert await ids(store, ConversationFilter(until=now - hour)) == []
    assert len(await ids(store, ConversationFilter(since=now - hour, until=now + hour))) == 4


async def test_waiting_for_people_are_held_ones_and_escalated_open_ones_newest_first(
    store: Store, database_url: str
) -> None:
    for name in ("plain", "sent-up", "sent-up-closed", "held", "held-closed", "sent-up-held"):
        await store.create_conversation(name, "hash")
    now = datetime.now(UTC)
    for name in ("sent-up", "sent-up-closed", "sent-up-held"):
        await store.mark_escalated(name)
    for name in ("held", "held-closed", "sent-up-held"):
        assert await store.hold_conversation(name, "Sam", now)
    for name in ("sent-up-closed", "held-closed"):
        await store.close_conversation(name, "escalated", 1, now)
    waiting = await store.waiting_for_people(limit=10)
    assert [c.id for c in waiting] == ["sent-up-held", "held-closed", "held", "sent-up"]
    assert [c.id for c in await store.waiting_for_people(limit=2)] == [
        "sent-up-held",
        "held-closed",
    ]
    if database_url.startswith("sqlite"):  # read from migration 8's index, not a table scan
        with sqlite3.connect(database_url.split(":///", 1)[1]) as db:
            plan = db.execute(
                "EXPLAIN QUERY PLAN "
                + WAITING_FOR_PEOPLE.format(escalated="escalated = 1").replace(
                    "CAST(:limit AS BIGINT)", "10"
                )
            ).fetchall()
        assert any("conversations_people_idx" in str(step) for step in plan), plan


#: The chat server fixtures (`start_server`).
pytest_plugins = ["server_fixture"]

OPERATOR = "op-secret-token-for-listing-tests"


async def test_the_operator_endpoint_filters_and_pages_with_the_last_id(
    start_server: ServerFactory,
) -> None:
    with start_server(operator_token=OPERATOR) as url:
        headers = {"Authorization": f"Bearer {OPERATOR}"}
        async with httpx.AsyncClient(base_url=url, headers=headers) as client:
            for _ in range(3):
                async with connect(url) as ws:
                    chat = Chat(ws)
                    await chat.start()
                    await chat.say("Where is order 1042?")
            first = (await client.get("/api/v1/operator/conversations?limit=2")).json()
            assert len(first) == 2
            last = first[-1]["conversation_id"]
            rest = await client.get(f"/api/v1/operator/conversations?limit=2&before={last}")
            assert len(rest.json()) == 1
            assert rest.json()[0]["conversation_id"] not in {c["conversation_id"] for c in first}
            assert first[0]["outcome"] is None and first[0]["closed_at"] is None
            opened = await client.get("/api/v1/operator/conversations?outcome=open&escalated=false")
            assert len(opened.json()) == 3
            resolved = await client.get("/api/v1/operator/conversations?outcome=resolved")
            assert resolved.json() == []
            unknown = await client.get("/api/v1/operator/conversations?before=nope")
            assert unknown.status_code == 404
