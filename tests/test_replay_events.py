"""The event log is the replay source: every step of a turn is logged with what an operator needs
to understand it later (tool results and durations, approval waits, routing decisions, the
model calls' tokens and cost, errors' operator detail), and none of that operator detail reaches
the customer's socket. Real engine, tools and stores (SQLite and PostgreSQL); scripted models."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from chat_client import Chat, connect
from smart_support.errors import ToolError
from smart_support.runtime.engine import Engine
from smart_support.runtime.events import RESULT_CHARS, ApprovalRequested
from smart_support.server.background import serve_in_thread
from smart_support.settings import Settings
from smart_support.store import create_store
from smart_support.testing import ScriptedChatModel, call

HERE = Path(__file__).parent
PRICES = {"scripted": (3.0, 15.0)}


# -- tools of these tests (the agents file names them as `test_replay_events:<name>`) -----------


async def track_parcel(order_id: int) -> dict[str, Any]:
    """Track the parcel of an order."""
    await asyncio.sleep(0.05)
    return {"order_id": order_id, "parcel": "in transit", "depot": "Leeds"}


async def order_report(order_id: int) -> dict[str, Any]:
    """Write the full history report of an order."""
    return {"order_id": order_id, "history": [f"step {i}: the parcel moved on" for i in range(200)]}


async def warehouse_stock(order_id: int) -> dict[str, Any]:
    """Check the warehouse stock of an order's items."""
    await asyncio.sleep(0.02)
    raise ToolError("the warehouse at https://svc:hunter2@wh.example/api?key=s3cret is down")


@pytest.fixture
def agents_file(tmp_path: Path) -> Path:
    """The engine tests' agents (tests/data/engine_agents.yaml) with this file's tools added."""
    doc = yaml.safe_load((HERE / "data" / "engine_agents.yaml").read_text(encoding="utf-8"))
    orders = next(a for a in doc["agents"] if a["name"] == "orders")
    for name in ("track_parcel", "order_report", "warehouse_stock"):
        orders["tools"].append({"python": f"test_replay_events:{name}", "access": "read"})
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def settings_for(database_url: str, agents_file: Path, **extra: Any) -> Settings:
    return Settings(
        database_url=database_url,
        agents_file=agents_file,
        llm_provider="offline",
        model_prices=PRICES,
        **extra,
    )


@asynccontextmanager
async def engine_with(
    settings: Settings, script: list[Any], routes: list[str] | None = None
) -> AsyncIterator[Engine]:
    """An engine whose agents answer from `script` and whose router transfers to `routes` in
    turn (to orders once they run out)."""
    router = ScriptedChatModel(
        script=[call(f"transfer_to_{agent}") for agent in routes or []],
        default=call("transfer_to_orders"),
    )
    model = ScriptedChatModel(script=script)
    async with Engine.open(settings, model=model, router_model=router) as engine:
        yield engine


async def turn(engine: Engine, conversation_id: str, text: str) -> list[Any]:
    return [event async for event in engine.send(conversation_id, text)]


async def logged(engine: Engine, conversation_id: str, kind: str) -> list[dict[str, Any]]:
    return [r.data for r in await engine.store.events(conversation_id) if r.kind == kind]


# -- tool calls ----------------------------------------------------------------------------------


async def test_a_tool_call_is_logged_with_its_arguments_then_its_result_and_how_long_it_ran(
    database_url: str, agents_file: Path, book: Path
) -> None:
    script = [call("track_parcel", {"order_id": 1042}), "It is in transit."]
    async with engine_with(settings_for(database_url, agents_file), script) as engine:
        cid, _ = await engine.start_conversation()
        await turn(engine, cid, "Where is the parcel of order 1042?")
        started, succeeded = await logged(engine, cid, "tool_activity")
    assert (started["status"], started["tool"]) == ("started", "track_parcel")
    assert started["args"] == {"order_id": 1042}
    assert started["duration_ms"] is None, "a call that has only started has no duration yet"
    assert (succeeded["status"], succeeded["call_id"]) == ("succeeded", started["call_id"])
    assert json.loads(succeeded["detail"]) == {
        "order_id": 1042,
        "parcel": "in transit",
        "depot": "Leeds",
    }
    assert succeeded["detail_trimmed"] is False
    assert succeeded["detail_chars"] == len(succeeded["detail"])
    assert 50 <= succeeded["duration_ms"] < 5000, "the tool sleeps 50 ms"
    assert succeeded["guard"] is None and succeeded["error"] is None


async def test_a_long_tool_result_is_trimmed_in_the_log_and_flagged(
    sqlite_url: str, agents_file: Path, book: Path
) -> None:
    script = [call("order_report", {"order_id": 1042}), "Here is the report."]
    async with engine_with(settings_for(sqlite_url, agents_file), script) as engine:
        cid, _ = await engine.start_conversation()
        await turn(engine, cid, "Send me the full history report of order 1042")
        _, succeeded = await logged(engine, cid, "tool_activity")
    whole = json.dumps(await order_report(1042))
    assert succeeded["status"] == "succeeded"
    assert succeeded["detail_trimmed"] is True
    assert succeeded["detail"] == whole[:RESULT_CHARS]
    assert succeeded["detail_chars"] == len(whole) > RESULT_CHARS


async def test_a_failing_tool_is_logged_with_the_failure_its_duration_and_no_secrets(
    database_url: str, agents_file: Path, book: Path
) -> None:
    script = [call("warehouse_stock", {"order_id": 1042}), "The warehouse is not answering."]
    async with engine_with(settings_for(database_url, agents_file), script) as engine:
        cid, _ = await engine.start_conversation()
        await turn(engine, cid, "Is everything of order 1042 in stock?")
        _, failed = await logged(engine, cid, "tool_activity")
    assert failed["status"] == "failed"
    assert failed["guard"] == "system_down"
    assert failed["detail"].startswith("Not available right now"), "what the agent was told"
    assert failed["error"].startswith("ToolError: the warehouse at https://***@wh.example/api?")
    assert "hunter2" not in json.dumps(failed) and "s3cret" not in json.dumps(failed)
    assert 20 <= failed["duration_ms"] < 5000


# -- approvals -----------------------------------------------------------------------------------


async def test_an_approval_decided_after_a_while_says_who_decided_and_how_long_it_waited(
    database_url: str, agents_file: Path, book: Path
) -> None:
    script = [call("cancel_order", {"order_id": 1042}), "Order 1042 is cancelled."]
    async with engine_with(settings_for(database_url, agents_file), script) as engine:
        cid, _ = await engine.start_conversation()
        [request] = [
            e
            for e in await turn(engine, cid, "Cancel order 1042")
            if e.type == "approval_requested"
        ]
        await asyncio.sleep(1.1)
        assert isinstance(request, ApprovalRequested)
        [event async for event in engine.decide(request.approval_id, True, "operator:sam")]
        [resolved] = await logged(engine, cid, "approval_resolved")
        results = await logged(engine, cid, "tool_activity")
    assert (resolved["status"], resolved["decided_by"]) == ("approved", "operator:sam")
    assert 1.1 <= resolved["waited_seconds"] < 30
    cancelled = [e for e in results if e["tool"] == "cancel_order" and e["status"] != "started"]
    assert cancelled[-1]["status"] == "succeeded"
    assert isinstance(cancelled[-1]["duration_ms"], int), "the write's own run, not the wait"
    assert cancelled[-1]["duration_ms"] < 1000


async def test_an_approval_left_to_expire_is_logged_as_expired_by_the_system(
    sqlite_url: str, agents_file: Path, book: Path
) -> None:
    script = [call("cancel_order", {"order_id": 1042}), lambda messages: messages[-1].content]
    settings = settings_for(sqlite_url, agents_file, approval_ttl_seconds=1)
    async with engine_with(settings, script) as engine:
        cid, _ = await engine.start_conversation()
        await turn(engine, cid, "Cancel order 1042")
        await asyncio.sleep(1.2)
        assert await engine.expire_due() == 1
        [resolved] = await logged(engine, cid, "approval_resolved")
    assert (resolved["status"], resolved["decided_by"]) == ("expired", "system")
    assert 1.0 <= resolved["waited_seconds"] < 30


# -- model calls and routing ---------------------------------------------------------------------


async def test_each_model_call_is_on_its_step_and_they_sum_to_the_usage_table(
    database_url: str, agents_file: Path, book: Path
) -> None:
    script = [
        call("lookup_order", {"order_id": 1042}),
        "Order 1042 is pending.",
        "Order 1043 is pending too.",
    ]
    async with engine_with(settings_for(database_url, agents_file), script) as engine:
        cid, _ = await engine.start_conversation()
        await turn(engine, cid, "What's the status of order 1042?")
        await turn(engine, cid, "And order 1043?")
        records = await engine.store.events(cid)
        usage = await engine.store.usage(cid)
    on_steps = [(r.kind, c) for r in records for c in r.data.get("model_calls", [])]
    assert [(kind, c["purpose"]) for kind, c in on_steps] == [
        ("agent_selected", "routing"),  # the router, on the first turn only
        ("tool_activity", "reply"),  # the step that called lookup_order
        ("reply_end", "reply"),
        ("reply_end", "reply"),  # the follow-up stayed with orders without the router
    ]
    calls = [c for _, c in on_steps]
    assert len(calls) == len(usage) == 4
    assert sum(c["input_tokens"] for c in calls) == sum(u.input_tokens for u in usage)
    assert sum(c["output_tokens"] for c in calls) == sum(u.output_tokens for u in usage)
    assert sum(c["cost_usd"] for c in calls) == pytest.approx(sum(u.cost_usd for u in usage))
    assert sum(u.cost_usd for u in usage) > 0
    assert [c["agent"] for c in calls] == ["router", "orders", "orders", "orders"]
    assert all(c["model"] == "scripted" and c["duration_ms"] >= 0 for c in calls)
    assert [u.extra["purpose"] for u in usage] == ["routing", "reply", "reply", "reply"]


async def test_routing_events_say_how_the_router_decided(
    sqlite_url: str, agents_file: Path, book: Path
) -> None:
    script = ["Order 1042 is pending.", "Order 1043 is pending too.", "Sorry about that."]
    settings = settings_for(sqlite_url, agents_file)
    async with engine_with(settings, script, routes=["orders", "billing"]) as engine:
        cid, _ = await engine.start_conversation()
        await turn(engine, cid, "What's the status of order 1042?")
        await turn(engine, cid, "And order 1043?")
        await turn(engine, cid, "I was charged twice on my card")
        first, follow_up, switch = await logged(engine, cid, "agent_selected")
    assert (first["agent"], first["reason"]) == ("orders", "routed")
    assert first["decision"] == {
        "method": "model",
        "asked_because": "first_message",
        "scores": None,
        "tool": "transfer_to_orders",
    }
    assert (follow_up["agent"], follow_up["reason"]) == ("orders", "follow_up")
    assert follow_up["decision"]["method"] == "follow_up"
    assert follow_up["decision"]["tool"] is None and follow_up["model_calls"] == []
    scores = follow_up["decision"]["scores"]
    assert max(scores, key=scores.__getitem__) == "orders"
    assert (switch["agent"], switch["previous"]) == ("billing", "orders")
    assert switch["decision"]["method"] == "model"
    assert switch["decision"]["asked_because"] == "topic_switch"
    assert switch["decision"]["tool"] == "transfer_to_billing"
    assert switch["decision"]["scores"]["billing"] > switch["decision"]["scores"]["orders"]


async def test_the_summary_adds_up_tool_time_model_calls_per_purpose_and_approval_waits(
    sqlite_url: str, agents_file: Path, book: Path
) -> None:
    from smart_support.replay import summarize

    script = [
        call("track_parcel", {"order_id": 1042}),
        "It is in transit.",
        call("cancel_order", {"order_id": 1043}),
        "Order 1043 is cancelled.",
    ]
    async with engine_with(settings_for(sqlite_url, agents_file), script) as engine:
        cid, _ = await engine.start_conversation()
        await turn(engine, cid, "Where is the parcel of order 1042?")
        events = await turn(engine, cid, "Cancel order 1043")
        [request] = [e for e in events if e.type == "approval_requested"]
        await asyncio.sleep(0.5)
        [event async for event in engine.decide(request.approval_id, True, "customer", cid)]
        summary = await summarize(engine.store, cid)
        usage = await engine.store.usage(cid)
    assert summary is not None
    assert summary.tool_ms_by_tool["track_parcel"] >= 50
    assert summary.tool_ms == sum(summary.tool_ms_by_tool.values())
    assert set(summary.tool_ms_by_tool) == {"track_parcel", "cancel_order"}  # not pre-checks
    assert summary.usage_by_purpose["routing"].model_calls == 1
    assert summary.usage_by_purpose["reply"].model_calls == len(usage) - 1
    assert summary.usage_by_agent["orders"].cost_usd == pytest.approx(
        sum(u.cost_usd for u in usage if u.agent == "orders")
    )
    assert summary.model_ms == sum(u.extra["duration_ms"] for u in usage)
    assert summary.longest_approval_wait_seconds is not None
    assert 0.5 <= summary.longest_approval_wait_seconds < 30
    assert summary.approvals.approved == 1  # the fields it had keep their meaning


# -- what the customer's socket receives ---------------------------------------------------------

#: Words that would mean operator detail reached the browser.
OPERATOR_ONLY = ("detail", "decision", "model_calls", "RuntimeError", "hunter2", "cost_usd")


def broken_step(messages: object) -> str:
    raise RuntimeError("the checkout service said password=hunter2 is wrong")


async def test_an_errors_operator_detail_is_in_the_log_but_never_on_the_customers_socket(
    sqlite_url: str, agents_file: Path, book: Path
) -> None:
    model = ScriptedChatModel(
        script=[call("lookup_order", {"order_id": 1042}), "Order 1042 is pending.", broken_step]
    )
    settings = settings_for(sqlite_url, agents_file)
    router = ScriptedChatModel(default=call("transfer_to_orders"))
    with serve_in_thread(settings, model=model, router_model=router) as url:
        async with connect(url) as ws:
            chat = Chat(ws)
            started = await chat.start()
            answered = await chat.say("What's the status of order 1042?")
            failed = await chat.say("And order 1043?")
        async with connect(url) as ws:
            chat = Chat(ws)
            await chat.send(
                type="resume", conversation_id=started["conversation_id"], token=started["token"]
            )
            resumed = await chat.until("transcript")
    assert answered[-1]["type"] == "reply_end"
    error = failed[-1]
    assert (error["type"], error["code"]) == ("error", "internal_error")
    for frame in [*answered, *failed, *resumed]:
        text = json.dumps(frame)
        assert not any(word in text for word in OPERATOR_ONLY), frame
    store = create_store(sqlite_url)
    await store.setup()
    try:
        records = await store.events(started["conversation_id"])
    finally:
        await store.close()
    [logged_error] = [r.data for r in records if r.kind == "turn_error"]
    assert logged_error["message"] == error["message"], "the customer's wording is kept"
    assert logged_error["detail"] == (
        "RuntimeError: the checkout service said password=*** is wrong"
    )
    [selected, _] = [r.data for r in records if r.kind == "agent_selected"]
    assert selected["decision"]["method"] == "model" and selected["model_calls"]
