"""Conversation outcomes: computed when a conversation closes (idle or explicitly), stored with
the definition's version, recomputed after a new message reopens it; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from smart_support.analytics import compute
from smart_support.analytics.outcomes import OUTCOME_VERSION, outcome
from smart_support.replay import summarize
from smart_support.runtime.engine import Engine
from smart_support.server.app import create_app
from smart_support.settings import Settings
from smart_support.store import EventRecord, open_persistence
from smart_support.store.records import Usage
from smart_support.testing import ScriptedChatModel, call

HERE = Path(__file__).parent
AGENTS = HERE / "data" / "engine_agents.yaml"
OPERATOR = "op-secret-token-for-outcomes"
T0 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


def settings_for(database_url: str, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        agents_file=AGENTS,
        llm_provider="offline",
        **extra,
    )


def router() -> ScriptedChatModel:
    def pick(messages: list[Any]) -> Any:
        text = str(messages[-1].content).lower()
        if "person" in text or "human" in text:
            return call("transfer_to_humans")
        if "order" in text:
            return call("transfer_to_orders")
        return call("transfer_to_general")

    return ScriptedChatModel(default=pick)


async def say(engine: Engine, conversation_id: str, text: str) -> None:
    async for _ in engine.send(conversation_id, text):
        pass


def log(*events: tuple[str, dict[str, Any]]) -> list[EventRecord]:
    return [
        EventRecord("c", seq, kind, "orders", data, T0 + timedelta(seconds=seq))
        for seq, (kind, data) in enumerate(events, start=1)
    ]


# -- the definition over event records ----------------------------------------------------------

ASKED = ("customer_message", {"text": "hi"})
SUCCEEDED = ("tool_activity", {"tool": "lookup_order", "status": "succeeded"})
FAILED = ("tool_activity", {"tool": "lookup_order", "status": "failed"})


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], "unresolved"),
        ([ASKED, ("reply_end", {"text": "Hello there."})], "unresolved"),
        ([ASKED, SUCCEEDED, ("reply_end", {"text": "Order 1042 is pending."})], "resolved"),
        ([ASKED, SUCCEEDED, ("reply_end", {"text": "Anything else?"})], "resolved"),
        ([ASKED, FAILED, ("reply_end", {"text": "Sorry, that failed."})], "unresolved"),
        ([ASKED, ("tool", {"status": "succeeded"})], "resolved"),  # a legacy kind
        ([ASKED, SUCCEEDED, ("handoff", {})], "escalated"),
        ([ASKED, ("agent_selected", {"agent": "humans", "reason": "escalation"})], "escalated"),
        ([ASKED, ("reply_end", {"text": "Which order do you mean? "})], "abandoned"),
        (
            [ASKED, ("reply_end", {"text": "Which order?"}), ASKED, ("reply_end", {"text": "OK."})],
            "unresolved",
        ),
        ([ASKED, ("approval_requested", {"approval_id": "a"})], "abandoned"),
        (
            [ASKED, ("approval_requested", {}), ("approval_resolved", {"status": "expired"})],
            "abandoned",
        ),
        (
            [ASKED, ("approval_requested", {}), ("approval_resolved", {"status": "rejected"})],
            "unresolved",
        ),
    ],
)
def test_the_outcome_follows_the_definition_over_the_event_log(
    events: list[tuple[str, dict[str, Any]]], expected: str
) -> None:
    assert outcome(log(*events)) == expected


def test_a_conversation_flagged_escalated_is_escalated_whatever_its_events() -> None:
    assert outcome(log(ASKED, SUCCEEDED), escalated=True) == "escalated"


# -- closing through the engine -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "message", "expected"),
    [
        (
            [call("lookup_order", {"order_id": 1042}), "Order 1042 is pending."],
            "What's the status of order 1042?",
            "resolved",
        ),
        (["A colleague will take over."], "I want to talk to a person", "escalated"),
        (["Which order do you mean?"], "Where is my order?", "abandoned"),
        (["I cannot help with the weather."], "What's the weather on Mars?", "unresolved"),
    ],
)
async def test_closing_a_conversation_stores_its_outcome_and_the_definitions_version(
    database_url: str, book: Path, script: list[Any], message: str, expected: str
) -> None:
    model = ScriptedChatModel(script=script, default="Done.")
    async with Engine.open(settings_for(database_url), model=model, router_model=router()) as e:
        conversation, _ = await e.start_conversation()
        await say(e, conversation, message)
        assert (await summarize(e.store, conversation)).outcome is None  # type: ignore[union-attr]
        closed = await e.close_conversation(conversation)
        assert (closed.outcome, closed.outcome_version) == (expected, OUTCOME_VERSION)
        assert closed.closed_at is not None
        again = await e.close_conversation(conversation)
        assert (again.outcome, again.closed_at) == (expected, closed.closed_at)
        summary = await summarize(e.store, conversation)
        assert summary is not None
        assert (summary.outcome, summary.outcome_version) == (expected, OUTCOME_VERSION)


async def test_a_message_after_close_is_answered_and_reopens_the_conversation(
    database_url: str, book: Path
) -> None:
    model = ScriptedChatModel(
        script=[
            "Hello!",
            call("lookup_order", {"order_id": 1042}),
            "Order 1042 is pending.",
        ]
    )
    async with Engine.open(settings_for(database_url), model=model, router_model=router()) as e:
        conversation, _ = await e.start_conversation()
        await say(e, conversation, "Hello")
        assert (await e.close_conversation(conversation)).outcome == "unresolved"
        events = [event async for event in e.send(conversation, "Status of order 1042?")]
        assert events[-1].type == "reply_end"
        reopened = await e.store.get_conversation(conversation)
        assert reopened is not None
        assert (reopened.closed_at, reopened.outcome, reopened.outcome_version) == (
            None,
            None,
            None,
        )
        assert (await e.close_conversation(conversation)).outcome == "resolved"


# -- the store's port ---------------------------------------------------------------------------


async def test_only_open_conversations_idle_since_before_are_found_and_close_once(
    database_url: str,
) -> None:
    async with open_persistence(settings_for(database_url)) as opened:
        store = opened.store
        for cid in ("quiet", "talking", "closed"):
            await store.create_conversation(cid, "hash")
        await store.append_event("talking", "customer_message", None, {"text": "hi"})
        now = datetime.now(UTC)
        assert await store.close_conversation("closed", "unresolved", 1, now)
        later = now + timedelta(seconds=5)
        assert await store.idle_conversations(later) == ["quiet", "talking"]
        assert await store.idle_conversations(later, limit=1) == ["quiet"]
        assert await store.idle_conversations(now - timedelta(hours=1)) == []
        assert not await store.close_conversation("closed", "resolved", 2, later)
        assert not await store.close_conversation("nobody", "resolved", 1, later)
        stored = await store.get_conversation("closed")
        assert stored is not None
        assert (stored.outcome, stored.outcome_version) == ("unresolved", 1)
        assert abs((stored.closed_at - now).total_seconds()) < 0.001  # type: ignore[operator]
        assert await store.reopen_conversation("closed")
        assert not await store.reopen_conversation("closed")
        assert "closed" in await store.idle_conversations(later)


async def test_analytics_resolution_figures_come_from_the_closed_conversations(
    database_url: str,
) -> None:
    async with open_persistence(settings_for(database_url)) as opened:
        store = opened.store
        now = datetime.now(UTC)
        window = (now - timedelta(days=1), now + timedelta(days=1))
        for cid in ("won", "also-won", "lost", "open"):
            await store.create_conversation(cid, "hash")
            await store.record_usage(Usage(cid, "orders", "m", 10, 5, 0.25, now, {}))
        assert (await compute(store, *window)).resolved is None  # none closed yet
        await store.record_usage(Usage("won", "orders", "m", 10, 5, 0.5, now, {}))
        await store.close_conversation("won", "resolved", OUTCOME_VERSION, now)
        await store.close_conversation("also-won", "resolved", OUTCOME_VERSION, now)
        await store.close_conversation("lost", "escalated", OUTCOME_VERSION, now)
        figures = await compute(store, *window)
        assert figures.resolved == 2
        assert figures.resolution_rate == pytest.approx(2 / 3, abs=1e-6)
        assert figures.cost_per_resolution_usd == pytest.approx((0.25 + 0.5 + 0.25) / 2)


# -- the server: the sweeper and the REST endpoint ----------------------------------------------


@asynccontextmanager
async def served(engine: Engine, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, engine=engine, sweep_interval_seconds=0.1)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_the_sweeper_closes_a_conversation_left_idle(database_url: str, book: Path) -> None:
    settings = settings_for(database_url, conversation_idle_seconds=1, operator_token=OPERATOR)
    model = ScriptedChatModel(default="Which order do you mean?")
    async with Engine.open(settings, model=model, router_model=router()) as engine:
        idle, _ = await engine.start_conversation()
        await say(engine, idle, "Where is my order?")
        async with served(engine, settings):
            for _ in range(100):
                stored = await engine.store.get_conversation(idle)
                if stored is not None and stored.closed_at is not None:
                    break
                await asyncio.sleep(0.05)
        assert stored is not None
        assert (stored.outcome, stored.outcome_version) == ("abandoned", OUTCOME_VERSION)


async def test_an_idle_time_of_zero_never_closes_a_conversation(database_url: str) -> None:
    settings = settings_for(database_url, conversation_idle_seconds=0)
    async with Engine.open(settings, model=ScriptedChatModel(default="Hi.")) as engine:
        conversation, _ = await engine.start_conversation()
        assert await engine.store.idle_conversations(datetime.now(UTC) + timedelta(days=1))
        assert await engine.close_idle() == 0
        stored = await engine.store.get_conversation(conversation)
        assert stored is not None and stored.closed_at is None


async def test_an_operator_closes_a_conversation_over_rest_and_gets_its_outcome(
    database_url: str, book: Path
) -> None:
    settings = settings_for(database_url, operator_token=OPERATOR)
    model = ScriptedChatModel(
        script=[call("lookup_order", {"order_id": 1042}), "Order 1042 is pending."]
    )
    async with Engine.open(settings, model=model, router_model=router()) as engine:
        conversation, _ = await engine.start_conversation()
        await say(engine, conversation, "What's the status of order 1042?")
        async with served(engine, settings) as client:
            path = f"/api/v1/operator/conversations/{conversation}/close"
            anonymous = await client.post(path)
            auth = {"Authorization": f"Bearer {OPERATOR}"}
            closed = await client.post(path, headers=auth)
            again = await client.post(path, headers=auth)
            unknown = await client.post(
                "/api/v1/operator/conversations/no-such-conversation/close", headers=auth
            )
            summary = await client.get(
                f"/api/v1/operator/conversations/{conversation}/summary", headers=auth
            )
    assert anonymous.status_code == 401, anonymous.text
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert (body["conversation_id"], body["outcome"]) == (conversation, "resolved")
    assert body["outcome_version"] == OUTCOME_VERSION
    assert again.json() == body
    assert unknown.status_code == 404, unknown.text
    assert summary.json()["outcome"] == "resolved"
