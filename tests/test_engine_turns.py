"""Turns: routing, follow-ups, fallback, escalation, racing messages, usage, failures."""

from __future__ import annotations

import asyncio

import psycopg

from pg_admin import database_down
from smart_support.runtime.engine import Engine
from smart_support.runtime.events import (
    AgentSelected,
    ApprovalRequested,
    ApprovalResolved,
    MessageAccepted,
    ReplyEnd,
    Token,
    TurnError,
)
from smart_support.testing import ScriptedChatModel, call
from test_engine_approvals import collect, only, read_book, settings_for


class CountingRouter(ScriptedChatModel):
    """A router that picks by keyword and counts its calls."""


def keyword_router() -> ScriptedChatModel:
    def pick(messages):
        text = messages[-1].content.lower()
        if "person" in text or "human" in text:
            return call("transfer_to_humans")
        if "invoice" in text or "charged" in text:
            return call("transfer_to_billing")
        if "order" in text:
            return call("transfer_to_orders")
        return "none"

    return ScriptedChatModel(default=pick)


async def test_a_follow_up_stays_with_the_agent_without_a_routing_call(sqlite_url, book):
    router = keyword_router()
    model = ScriptedChatModel(
        script=[
            call("lookup_order", {"order_id": 1042}),
            "Order 1042 is pending.",
            lambda messages: f"Still about {messages[-3].content if len(messages) > 3 else '?'}",
        ]
    )
    async with Engine.open(settings_for(sqlite_url), model=model, router_model=router) as engine:
        conversation, _ = await engine.start_conversation()
        first = await collect(engine.send(conversation, "What's the status of order 1042?"))
        assert only(first, AgentSelected)[0].agent == "orders"
        routing_calls = len(router.seen)
        second = await collect(engine.send(conversation, "and when will it arrive?"))
        selected = only(second, AgentSelected)[0]
        assert (selected.agent, selected.reason) == ("orders", "follow_up")
        assert len(router.seen) == routing_calls, "no routing model call for a follow-up"
        # the agent sees the earlier turn: the history window carries the context
        assert any("1042" in str(m.content) for m in model.seen[-1])


async def test_a_change_of_topic_is_routed_again(sqlite_url, book):
    router = keyword_router()
    model = ScriptedChatModel(default="ok")
    async with Engine.open(settings_for(sqlite_url), model=model, router_model=router) as engine:
        conversation, _ = await engine.start_conversation()
        await collect(engine.send(conversation, "What's the status of order 1042?"))
        events = await collect(
            engine.send(conversation, "I was charged twice, where is my invoice?")
        )
        assert only(events, AgentSelected)[0].agent == "billing"


async def test_a_request_no_specialist_fits_goes_to_the_fallback_agent(sqlite_url, book):
    model = ScriptedChatModel(default="I can connect you with a person.")
    async with Engine.open(
        settings_for(sqlite_url), model=model, router_model=keyword_router()
    ) as engine:
        conversation, _ = await engine.start_conversation()
        events = await collect(engine.send(conversation, "What's the weather on Mars?"))
        assert only(events, AgentSelected)[0].agent == "general"
        assert only(events, ReplyEnd)[0].agent == "general"


async def test_an_explicit_request_for_a_human_reaches_escalation_and_is_recorded(sqlite_url, book):
    model = ScriptedChatModel(default="A colleague will take over.")
    async with Engine.open(
        settings_for(sqlite_url), model=model, router_model=keyword_router()
    ) as engine:
        conversation, _ = await engine.start_conversation()
        events = await collect(engine.send(conversation, "I want to talk to a person"))
        selected = only(events, AgentSelected)[0]
        assert (selected.agent, selected.reason) == ("humans", "escalation")
        stored = await engine.store.get_conversation(conversation)
        assert stored is not None and stored.escalated


async def test_replies_stream_token_by_token_and_usage_is_recorded_per_agent(sqlite_url, book):
    model = ScriptedChatModel(
        script=[call("lookup_order", {"order_id": 1042}), "Order 1042 is pending and ships soon."]
    )
    async with Engine.open(
        settings_for(sqlite_url, model_prices={"scripted": (1.0, 2.0)}),
        model=model,
        router_model=keyword_router(),
    ) as engine:
        conversation, _ = await engine.start_conversation()
        events = await collect(engine.send(conversation, "status of order 1042?"))
        tokens = only(events, Token)
        assert len(tokens) > 3 and {t.agent for t in tokens} == {"orders"}
        assert "".join(t.text for t in tokens) == "Order 1042 is pending and ships soon."
        usage = await engine.store.usage(conversation)
        by_agent = {u.agent for u in usage}
        assert {"orders", "router"} <= by_agent
        assert all(u.input_tokens > 0 for u in usage)
        assert sum(u.cost_usd for u in usage) > 0


async def test_racing_messages_on_one_conversation_run_one_after_the_other(database_url, book):
    model = ScriptedChatModel(default=lambda messages: f"echo {messages[-1].content}", latency=0.05)
    async with Engine.open(
        settings_for(database_url), model=model, router_model=keyword_router()
    ) as engine:
        conversation, _ = await engine.start_conversation()
        results = await asyncio.gather(
            *[collect(engine.send(conversation, f"order question {i}")) for i in range(4)]
        )
        assert all(only(r, ReplyEnd) for r in results)
        transcript = await engine.transcript(conversation)
        kinds = [r.kind for r in transcript if r.kind in ("customer_message", "reply_end")]
        assert kinds == ["customer_message", "reply_end"] * 4, "turns never interleave"
        state = await engine.graph.aget_state({"configurable": {"thread_id": conversation}})
        humans = [m.content for m in state.values["messages"] if m.type == "human"]
        assert len(humans) == 4 and len(set(humans)) == 4, "history holds every message once"


async def test_racing_messages_from_two_processes_do_not_fork_history_on_postgres(pg_url, book):
    settings = settings_for(pg_url)
    slow = dict(default=lambda messages: f"echo {messages[-1].content}", latency=0.05)
    async with (
        Engine.open(
            settings, model=ScriptedChatModel(**slow), router_model=keyword_router()
        ) as one,
        Engine.open(
            settings, model=ScriptedChatModel(**slow), router_model=keyword_router()
        ) as two,
    ):
        conversation, _ = await one.start_conversation()
        await asyncio.gather(
            *[
                collect(engine.send(conversation, f"order {i} from {name}"))
                for i in range(3)
                for name, engine in (("one", one), ("two", two))
            ]
        )
        state = await one.graph.aget_state({"configurable": {"thread_id": conversation}})
        humans = [m.content for m in state.values["messages"] if m.type == "human"]
        replies = [m.content for m in state.values["messages"] if m.type == "ai"]
        assert len(humans) == 6 and len(replies) == 6
        assert replies == [f"echo {h}" for h in humans], "each reply answers its own message"


async def test_the_database_going_away_gives_a_clear_error_and_the_engine_recovers(pg_url, book):
    model = ScriptedChatModel(default=lambda messages: f"echo {messages[-1].content}")
    async with Engine.open(
        settings_for(pg_url), model=model, router_model=keyword_router()
    ) as engine:
        conversation, _ = await engine.start_conversation()
        assert only(await collect(engine.send(conversation, "order one")), ReplyEnd)
        with database_down(pg_url):
            down = await collect(engine.send(conversation, "order two"))
            [error] = only(down, TurnError)
            assert error.code == "store_unavailable"
            assert "not sent" in error.message
            assert not only(down, MessageAccepted)
        back = await collect(engine.send(conversation, "order three"))
        assert only(back, ReplyEnd)[0].text == "echo order three"
        texts = [
            r.data.get("text")
            for r in await engine.transcript(conversation)
            if r.kind == "customer_message"
        ]
        assert texts == ["order one", "order three"]


async def test_an_empty_or_oversized_message_is_refused_with_a_clear_error(sqlite_url, book):
    async with Engine.open(
        settings_for(sqlite_url),
        model=ScriptedChatModel(default="x"),
        router_model=keyword_router(),
    ) as engine:
        conversation, _ = await engine.start_conversation()
        for text in ("   ", "x" * 5000):
            [error] = await collect(engine.send(conversation, text))
            assert isinstance(error, TurnError) and error.code == "bad_message"
        [missing] = await collect(engine.send("no-such-conversation", "hello"))
        assert isinstance(missing, TurnError) and missing.code == "conversation_not_found"


async def test_a_question_while_an_approval_waits_is_answered_and_the_approval_keeps_waiting(
    database_url, book
):
    model = ScriptedChatModel(
        script=[call("cancel_order", {"order_id": 1042}), "It ships tomorrow.", "Cancelled."]
    )
    async with Engine.open(
        settings_for(database_url), model=model, router_model=keyword_router()
    ) as engine:
        conversation, _ = await engine.start_conversation()
        [request] = only(
            await collect(engine.send(conversation, "cancel order 1042")), ApprovalRequested
        )
        aside = await collect(engine.send(conversation, "when would order 1042 ship?"))
        still = await engine.pending_approvals(conversation)
        decided = await collect(engine.decide(request.approval_id, True, "customer", conversation))

    assert only(aside, ReplyEnd)[0].text == "It ships tomorrow."
    assert [a.id for a in still] == [request.approval_id], "the approval keeps waiting"
    assert only(decided, ReplyEnd)[0].text == "Cancelled."
    assert [c["order_id"] for c in read_book(book)["calls"] if c["tool"] == "cancel_order"] == [
        1042
    ]


async def test_no_leave_it_while_an_approval_waits_declines_it(sqlite_url, book):
    model = ScriptedChatModel(
        script=[call("cancel_order", {"order_id": 1042}), "Fine, nothing was changed."]
    )
    async with Engine.open(
        settings_for(sqlite_url), model=model, router_model=keyword_router()
    ) as engine:
        conversation, _ = await engine.start_conversation()
        await collect(engine.send(conversation, "cancel order 1042"))
        events = await collect(engine.send(conversation, "no, leave it"))

    [resolved] = only(events, ApprovalResolved)
    assert (resolved.status, resolved.decided_by) == ("rejected", "customer")
    assert only(events, ReplyEnd)[0].text == "Fine, nothing was changed."
    assert not [c for c in read_book(book)["calls"] if c["tool"] == "cancel_order"]


async def test_asking_for_another_action_while_one_waits_replaces_the_waiting_one(sqlite_url, book):
    model = ScriptedChatModel(
        script=[call("cancel_order", {"order_id": 1042}), call("cancel_order", {"order_id": 1043})]
    )
    async with Engine.open(
        settings_for(sqlite_url), model=model, router_model=keyword_router()
    ) as engine:
        conversation, _ = await engine.start_conversation()
        [first] = only(
            await collect(engine.send(conversation, "cancel order 1042")), ApprovalRequested
        )
        events = await collect(engine.send(conversation, "actually cancel order 1043 instead"))
        pending = await engine.pending_approvals(conversation)

    [second] = only(events, ApprovalRequested)
    assert second.summary == "Cancel order 1043"
    [resolved] = only(events, ApprovalResolved)
    assert (resolved.approval_id, resolved.status) == (first.approval_id, "cancelled")
    assert [a.id for a in pending] == [second.approval_id]


async def test_a_message_accepted_before_the_database_went_away_is_answered_with_the_next(
    pg_url, book, monkeypatch
):
    monkeypatch.setenv("ENGINE_TEST_PG_URL", pg_url)
    database = pg_url.rsplit("/", 1)[1]
    admin_url = pg_url.rsplit("/", 1)[0] + "/test"

    plugged = []

    def step(messages):
        humans = [m.content for m in messages if m.type == "human"]
        if not plugged and messages[-1].type == "human":
            plugged.append(True)
            return call("pull_the_plug", {"order_id": 1042})  # the database goes away mid-turn
        return " + ".join(humans)

    model = ScriptedChatModel(default=step)
    async with Engine.open(
        settings_for(pg_url), model=model, router_model=keyword_router()
    ) as engine:
        conversation, _ = await engine.start_conversation()
        try:
            first = await collect(engine.send(conversation, "where is order 1042 in the warehouse"))
            assert only(first, MessageAccepted), "the message was stored before the failure"
            [error] = only(first, TurnError)
            assert error.code == "store_unavailable"
            assert "saved and will be answered before your next one" in error.message
        finally:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        second = await collect(engine.send(conversation, "and order 1043?"))
        # The saved message gets its own answer first, then the new one is answered.
        assert [r.text for r in only(second, ReplyEnd)] == [
            "where is order 1042 in the warehouse",
            "where is order 1042 in the warehouse + and order 1043?",
        ]
