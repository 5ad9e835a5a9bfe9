"""Replay: a conversation's event log page by page, its summary and its export (operator API),
over real HTTP against the chat server on SQLite and PostgreSQL, and the store's keyset pages."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from chat_client import Chat, cancel_order_1042, connect, server_settings
from smart_support.models.offline import OfflineChatModel
from smart_support.server.background import serve_in_thread
from smart_support.settings import Settings
from smart_support.store import Store, create_store, open_persistence
from smart_support.store.rows import MAX_PAGE_KINDS, events_page_params, events_page_sql

OPERATOR = "op-secret-token-for-replay"
#: A customer message that makes the model fail (a provider outage on that turn only).
OUTAGE = "Is the provider having an outage right now?"


class OutageOnCue(OfflineChatModel):
    """The offline model, except that it times out on the turn that says OUTAGE."""

    def _respond(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        said = [m for m in messages if isinstance(m, HumanMessage)]
        if said and OUTAGE in str(said[-1].content):
            raise TimeoutError("provider timed out")
        return super()._respond(messages, kwargs)


@dataclass
class Story:
    url: str
    database_url: str
    conversation_id: str
    token: str


@pytest.fixture(params=["sqlite", "postgres"])
def replay_server(
    request: pytest.FixtureRequest, sqlite_url: str, running_shop: str
) -> Iterator[tuple[str, str]]:
    """(server URL, database URL): the chat server with short approvals and a flaky model."""
    database = sqlite_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    settings = server_settings(
        database, running_shop, operator_token=OPERATOR, approval_ttl_seconds=2
    )
    with serve_in_thread(settings, sweep_interval_seconds=0.2, model=OutageOnCue()) as url:
        yield url, database


def operator(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {OPERATOR}"})


@pytest.fixture
async def story(replay_server: tuple[str, str]) -> Story:
    """One conversation with an approval approved, one left to expire, a lookup that fails, an
    escalation to a person and a model outage (last: a failed turn is answered again first)."""
    url, database = replay_server
    async with connect(url) as ws, operator(url) as client:
        chat = Chat(ws)
        started = await chat.start()
        request = await cancel_order_1042(chat)
        decided = await client.post(
            f"/api/v1/operator/approvals/{request['approval_id']}/decision",
            json={"decision": "approve", "operator": "sam"},
        )
        assert decided.status_code == 200, decided.text
        await chat.until("reply_end", "error")
        frames = await chat.say("Cancel order 1001", "approval_requested", "reply_end", "error")
        assert frames[-1]["type"] == "approval_requested", frames
        expired = await chat.until("approval_resolved")
        assert expired[-1]["status"] == "expired"
        told = await chat.until("reply_end", "error")
        assert "expired before anyone decided" in told[-1]["text"]
        frames = await chat.say("What's the status of order 99999?")
        assert "does not exist" in frames[-1]["text"]
        frames = await chat.say("I want to talk to a person")
        assert frames[-1]["type"] == "reply_end"
        frames = await chat.say(OUTAGE)
        assert (frames[-1]["type"], frames[-1]["code"]) == ("error", "model_unavailable")
    return Story(url, database, started["conversation_id"], started["token"])


async def whole_log(client: httpx.AsyncClient, cid: str) -> list[dict[str, Any]]:
    page = (await client.get(f"/api/v1/operator/conversations/{cid}/events?limit=1000")).json()
    assert page["has_more"] is False and page["next_after"] is None
    events: list[dict[str, Any]] = page["events"]
    return events


async def pages(
    client: httpx.AsyncClient, cid: str, **params: Any
) -> AsyncIterator[dict[str, Any]]:
    """Every page from the start, following next_after."""
    after = 0
    while True:
        response = await client.get(
            f"/api/v1/operator/conversations/{cid}/events", params={**params, "after": after}
        )
        assert response.status_code == 200, response.text
        page = response.json()
        yield page
        if not page["has_more"]:
            return
        after = page["next_after"]


# -- paging ------------------------------------------------------------------------------------


async def test_a_replay_paged_two_at_a_time_sees_every_event_once_in_order(story: Story) -> None:
    async with operator(story.url) as client:
        whole = await whole_log(client, story.conversation_id)
        seen: list[dict[str, Any]] = []
        async for page in pages(client, story.conversation_id, limit=2):
            assert 1 <= len(page["events"]) <= 2
            if page["has_more"]:
                assert len(page["events"]) == 2
                assert page["next_after"] == page["events"][-1]["seq"]
            else:
                assert page["next_after"] is None
            seen.extend(page["events"])
    assert [e["seq"] for e in seen] == list(range(1, len(whole) + 1))
    assert seen == whole
    kinds = Counter(e["kind"] for e in seen)
    assert kinds["customer_message"] == 5
    assert kinds["handoff"] == 1 and kinds["turn_error"] == 1
    resolved = [e["data"]["status"] for e in seen if e["kind"] == "approval_resolved"]
    assert resolved == ["approved", "expired"]
    tools = [e["data"] for e in seen if e["kind"] == "tool_activity"]
    assert tools[0]["tool"] == "cancel_order" and tools[0]["args"] == {"order_id": 1042}


async def test_a_kind_filter_pages_through_only_those_kinds(story: Story) -> None:
    wanted = ["approval_requested", "approval_resolved", "turn_error"]
    async with operator(story.url) as client:
        whole = await whole_log(client, story.conversation_id)
        seen = [
            event
            async for page in pages(client, story.conversation_id, limit=1, kind=wanted)
            for event in page["events"]
        ]
        after_first = await client.get(
            f"/api/v1/operator/conversations/{story.conversation_id}/events",
            params={"after": seen[0]["seq"], "kind": "approval_resolved", "limit": 1},
        )
    assert seen == [e for e in whole if e["kind"] in wanted]
    assert [e["kind"] for e in seen] == [
        "approval_requested",
        "approval_resolved",
        "approval_requested",
        "approval_resolved",
        "turn_error",
    ]
    page = after_first.json()
    assert [e["data"]["status"] for e in page["events"]] == ["approved"]
    assert page["has_more"] is True and page["next_after"] == page["events"][0]["seq"]


async def test_a_page_past_the_end_is_empty_and_says_it_is_the_last(story: Story) -> None:
    async with operator(story.url) as client:
        whole = await whole_log(client, story.conversation_id)
        past = await client.get(
            f"/api/v1/operator/conversations/{story.conversation_id}/events",
            params={"after": whole[-1]["seq"]},
        )
    assert past.json() == {"events": [], "next_after": None, "has_more": False}


# -- summary and export --------------------------------------------------------------------------


async def test_the_summary_counts_what_the_event_log_and_the_usage_records_show(
    story: Story,
) -> None:
    async with operator(story.url) as client:
        whole = await whole_log(client, story.conversation_id)
        summary = (
            await client.get(f"/api/v1/operator/conversations/{story.conversation_id}/summary")
        ).json()
    usage = await usage_of(story)
    assert summary["conversation_id"] == story.conversation_id
    assert (summary["events"], summary["last_seq"]) == (len(whole), whole[-1]["seq"])
    assert summary["turns"] == 5
    assert summary["agents"] == ["orders", "escalation"]
    assert summary["approvals"] == {
        "requested": 2,
        "approved": 1,
        "rejected": 0,
        "expired": 1,
        "cancelled": 0,
        "pending": 0,
    }
    assert summary["errors"] == {"model_unavailable": 1}
    assert summary["escalated"] is True
    started = Counter(
        e["data"]["tool"]
        for e in whole
        if e["kind"] == "tool_activity" and e["data"]["status"] == "started"
    )
    assert {name: t["calls"] for name, t in summary["tools"].items()} == dict(started)
    assert summary["tools"]["cancel_order"]["calls"] == 2
    assert summary["tools"]["hand_off_to_human"] == {"calls": 1, "succeeded": 1, "failed": 0}
    assert summary["usage"]["model_calls"] == len(usage) > 0
    assert summary["usage"]["input_tokens"] == sum(u.input_tokens for u in usage)
    assert summary["usage"]["output_tokens"] == sum(u.output_tokens for u in usage)
    assert summary["usage_by_model"].keys() == {"offline"}
    assert set(summary["usage_by_agent"]) == {u.agent for u in usage}


async def usage_of(story: Story) -> list[Any]:
    store = create_store(story.database_url)
    await store.setup()
    try:
        return await store.usage(story.conversation_id)
    finally:
        await store.close()


async def test_the_export_is_the_summary_then_every_event_as_json_lines(story: Story) -> None:
    cid = story.conversation_id
    async with operator(story.url) as client:
        whole = await whole_log(client, cid)
        summary = (await client.get(f"/api/v1/operator/conversations/{cid}/summary")).json()
        export = await client.get(f"/api/v1/operator/conversations/{cid}/export")
    assert export.status_code == 200
    assert export.headers["content-type"] == "application/x-ndjson"
    assert f'filename="{cid}.jsonl"' in export.headers["content-disposition"]
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert export.text.endswith("\n")
    assert lines[0] == summary
    assert lines[1:] == whole


# -- who may read it -----------------------------------------------------------------------------


async def test_a_customer_token_cannot_reach_the_replay_api(story: Story) -> None:
    cid = story.conversation_id
    paths = [f"/api/v1/operator/conversations/{cid}/{what}" for what in REPLAY]
    async with httpx.AsyncClient(base_url=story.url) as anyone:
        transcript = await anyone.get(
            f"/api/v1/conversations/{cid}/transcript",
            headers={"X-Conversation-Token": story.token},
        )
        answers = [
            await anyone.get(path, headers=headers)
            for path in paths
            for headers in (
                {"X-Conversation-Token": story.token},
                {"Authorization": f"Bearer {story.token}"},
                {},
            )
        ]
    assert transcript.status_code == 200  # the token is good, for the customer's own API
    assert [a.status_code for a in answers] == [401] * len(answers)
    assert all(a.json()["code"] == "unauthorized" for a in answers)


REPLAY = ("events", "summary", "export")


async def test_an_unknown_conversation_and_bad_parameters_are_clear_errors(
    story: Story,
) -> None:
    cid = story.conversation_id
    async with operator(story.url) as client:
        unknown = [
            await client.get(f"/api/v1/operator/conversations/no-such-conversation/{what}")
            for what in REPLAY
        ]
        bad = [
            await client.get(f"/api/v1/operator/conversations/{cid}/events", params=params)
            for params in (
                {"limit": 0},
                {"limit": 1001},
                {"after": -1},
                {"kind": "DROP TABLE"},
                {"kind": [f"k{chr(97 + i)}" for i in range(MAX_PAGE_KINDS + 1)]},
            )
        ]
        most = await client.get(f"/api/v1/operator/conversations/{cid}/events?limit=1000")
    assert [(r.status_code, r.json()["code"]) for r in unknown] == [
        (404, "conversation_not_found")
    ] * 3
    assert [(r.status_code, r.json()["code"]) for r in bad] == [(400, "bad_request")] * 5
    assert most.status_code == 200


# -- the store's keyset pages ------------------------------------------------------------------


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    async with open_persistence(settings) as opened:
        yield opened.store


async def test_events_page_reads_after_a_seq_in_order_with_kinds(store: Store) -> None:
    await store.create_conversation("c-1", "h")
    await store.create_conversation("c-2", "h")
    for i in range(10):
        await store.append_event("c-1", "even" if i % 2 else "odd", None, {"i": i})
        await store.append_event("c-2", "odd", None, {"i": i})
    first = await store.events_page("c-1", 0, 3)
    later = await store.events_page("c-1", 8, 100)
    evens = await store.events_page("c-1", 3, 2, ["even", "even"])
    both = await store.events_page("c-1", 0, 100, ["odd", "even", "none"])
    assert [(e.conversation_id, e.seq) for e in first] == [("c-1", 1), ("c-1", 2), ("c-1", 3)]
    assert [e.seq for e in later] == [9, 10]
    assert [(e.seq, e.kind, e.data) for e in evens] == [
        (4, "even", {"i": 3}),
        (6, "even", {"i": 5}),
    ]
    assert [e.seq for e in both] == list(range(1, 11))
    assert await store.events_page("c-1", 10, 5) == []
    assert await store.events_page("c-3", 0, 5) == []
    with pytest.raises(ValueError, match="at most"):
        await store.events_page("c-1", 0, 5, [f"k{i}" for i in range(MAX_PAGE_KINDS + 1)])


def test_a_page_at_any_depth_is_a_primary_key_range_not_an_offset(tmp_path: Any) -> None:
    """SQLite's plan for the page query: a range of the primary key, never a scan or a sort."""
    from smart_support.store.migrations import migrate_sqlite

    path = tmp_path / "plan.db"
    migrate_sqlite(path)
    with closing(sqlite3.connect(path)) as db:
        for kinds in (0, 3):
            plan = db.execute(
                "EXPLAIN QUERY PLAN " + events_page_sql(kinds),
                events_page_params("c", 500, 100, ["a", "b", "c"][:kinds]),
            ).fetchall()
            details = " ".join(row[-1] for row in plan)
            # the primary key's index (events has no rowid alias), on the page's range
            assert details.startswith("SEARCH events USING INDEX sqlite_autoindex_events_1"), plan
            assert "(conversation_id=? AND seq>?)" in details, plan
            assert "TEMP B-TREE" not in details  # no sort: the index order is the page order
    assert "OFFSET" not in events_page_sql(3).upper()


async def test_on_postgresql_the_page_query_is_served_by_the_primary_key_in_order(
    pg_url: str,
) -> None:
    """PostgreSQL's plan, seq scans off (a tiny table would rather scan): the primary key's
    index gives the range in seq order, so no sort and nothing read before `after`."""
    import psycopg

    from smart_support.store.rows import pg

    migrated = create_store(pg_url)
    await migrated.setup()
    await migrated.close()
    with psycopg.connect(pg_url) as conn:
        conn.execute("SET enable_seqscan = off")
        for kinds in (0, 2):
            plan = conn.execute(
                "EXPLAIN " + pg(events_page_sql(kinds)),
                events_page_params("c", 500, 100, ["a", "b"][:kinds]),
            ).fetchall()
            text = "\n".join(row[0] for row in plan)
            assert "Index Scan using events_pkey on events" in text, text
            assert "Sort" not in text, text
