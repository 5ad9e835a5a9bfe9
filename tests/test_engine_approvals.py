"""Approvals are enforced in code: every write waits for a human, runs at most once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from smart_support.runtime.approvals import approval_id_for
from smart_support.runtime.engine import Engine
from smart_support.runtime.events import (
    ApprovalRequested,
    ApprovalResolved,
    ReplyEnd,
    ToolActivity,
    TurnError,
)
from smart_support.settings import Settings
from smart_support.store import Approval, hash_args
from smart_support.testing import ScriptedChatModel, call, calls

HERE = Path(__file__).parent
AGENTS = HERE / "data" / "engine_agents.yaml"


def writes(path: Path) -> list[dict]:
    """The write calls that reached the tool (reads, such as pre-checks, left out)."""
    return [c for c in read_book(path)["calls"] if c["tool"] == "cancel_order"]


def read_book(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"orders": {}, "calls": []}


def settings_for(database_url: str, **extra) -> Settings:
    return Settings(database_url=database_url, agents_file=AGENTS, llm_provider="offline", **extra)


def to_orders() -> ScriptedChatModel:
    return ScriptedChatModel(default=call("transfer_to_orders"))


async def collect(events) -> list:
    return [event async for event in events]


def only(events, kind):
    return [e for e in events if isinstance(e, kind)]


async def test_an_approved_cancellation_runs_once_with_an_idempotency_key(database_url, book):
    model = ScriptedChatModel(
        script=[call("cancel_order", {"order_id": 1042}), "Order 1042 is cancelled."]
    )
    async with Engine.open(
        settings_for(database_url), model=model, router_model=to_orders()
    ) as engine:
        conversation, _ = await engine.start_conversation()
        first = await collect(engine.send(conversation, "Cancel order 1042"))
        [request] = only(first, ApprovalRequested)
        assert request.tool == "cancel_order" and request.args == {"order_id": 1042}
        assert request.summary == "Cancel order 1042"
        assert not only(first, ReplyEnd), "the turn pauses: no reply before the decision"
        assert writes(book) == [], "nothing ran before the approval"
        assert [a.id for a in await engine.pending_approvals(conversation)] == [request.approval_id]

        second = await collect(engine.decide(request.approval_id, True, "customer", conversation))
        assert only(second, ApprovalResolved)[0].status == "approved"
        assert only(second, ReplyEnd)[-1].text == "Order 1042 is cancelled."
        calls_made = writes(book)
        assert [c["tool"] for c in calls_made] == ["cancel_order"]
        assert calls_made[0]["key"] == request.approval_id
        action = await engine.store.get_action(request.approval_id)
        assert action is not None and action.status == "succeeded"

        again = await collect(engine.decide(request.approval_id, True, "customer", conversation))
        assert only(again, TurnError), "a second decision is refused"
        assert len(writes(book)) == 1


async def test_a_rejected_cancellation_never_runs_and_the_agent_is_told(sqlite_url, book):
    model = ScriptedChatModel(
        script=[
            call("cancel_order", {"order_id": 1042}),
            lambda messages: messages[-1].content,  # the agent repeats what the tool result said
        ]
    )
    async with Engine.open(
        settings_for(sqlite_url), model=model, router_model=to_orders()
    ) as engine:
        conversation, _ = await engine.start_conversation()
        [request] = only(
            await collect(engine.send(conversation, "Cancel order 1042")), ApprovalRequested
        )
        events = await collect(engine.decide(request.approval_id, False, "customer"))
        assert only(events, ApprovalResolved)[0].status == "rejected"
        assert (
            only(events, ReplyEnd)[-1].text
            == 'Not done: "Cancel order 1042" was declined, so nothing was changed.'
        )
        assert writes(book) == []


async def test_an_approval_left_past_its_expiry_is_cancelled_and_the_customer_told(
    sqlite_url, book
):
    model = ScriptedChatModel(
        script=[
            call("cancel_order", {"order_id": 1042}),
            lambda messages: messages[-1].content,
        ]
    )
    settings = settings_for(sqlite_url, approval_ttl_seconds=1)
    async with Engine.open(settings, model=model, router_model=to_orders()) as engine:
        conversation, _ = await engine.start_conversation()
        [request] = only(
            await collect(engine.send(conversation, "Cancel order 1042")), ApprovalRequested
        )
        assert await engine.expire_due() == 0, "not due yet"
        await asyncio.sleep(1.2)
        async with engine.subscribe(conversation) as live:
            assert await engine.expire_due() == 1
            seen = []
            while not any(isinstance(e, ReplyEnd) for e in seen):
                seen.append(await asyncio.wait_for(live.__anext__(), 5))
        assert only(seen, ApprovalResolved)[0].status == "expired"
        assert "expired before anyone decided" in only(seen, ReplyEnd)[0].text
        late = await collect(engine.decide(request.approval_id, True, "customer"))
        assert only(late, TurnError)
        assert writes(book) == []


async def test_a_pending_approval_survives_a_restart_and_is_decided_by_a_new_process(
    database_url, book
):
    settings = settings_for(database_url)
    async with Engine.open(
        settings,
        model=ScriptedChatModel(script=[call("cancel_order", {"order_id": 1042})]),
        router_model=to_orders(),
    ) as one:
        conversation, _ = await one.start_conversation()
        [request] = only(
            await collect(one.send(conversation, "Cancel order 1042")), ApprovalRequested
        )
    async with Engine.open(
        settings, model=ScriptedChatModel(script=["Done: cancelled."]), router_model=to_orders()
    ) as two:
        assert [a.id for a in await two.pending_approvals()] == [request.approval_id]
        events = await collect(two.decide(request.approval_id, True, "operator"))
        assert only(events, ReplyEnd)[-1].text == "Done: cancelled."
    assert read_book(book)["orders"]["1042"] == "cancelled"


CRASHING_PROCESS = textwrap.dedent("""
    import asyncio, os, sys
    from smart_support.runtime.engine import Engine
    from smart_support.settings import Settings
    from smart_support.testing import ScriptedChatModel, call

    async def main():
        settings = Settings(database_url=sys.argv[1], agents_file=sys.argv[2])
        async with Engine.open(settings, model=ScriptedChatModel(
                script=[call("cancel_order", {"order_id": 1042})]),
                router_model=ScriptedChatModel(default=call("transfer_to_orders"))) as engine:
            conversation, _ = await engine.start_conversation()
            print(conversation, flush=True)
            approval = None
            async for event in engine.send(conversation, "Cancel order 1042"):
                if event.type == "approval_requested":
                    approval = event.approval_id
            os.environ["ENGINE_TEST_CRASH_ON_WRITE"] = "1"
            async for event in engine.decide(approval, True, "customer"):
                pass
    asyncio.run(main())
""")


async def test_a_crash_between_approval_and_execution_is_reported_not_repeated(
    database_url, book, tmp_path
):
    env = {**os.environ, "PYTHONPATH": str(HERE), "ENGINE_TEST_BOOK": str(book)}
    process = subprocess.run(  # noqa: ASYNC221 - the crash must happen in another process
        [sys.executable, "-c", CRASHING_PROCESS, database_url, str(AGENTS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 17, process.stderr[-2000:]
    conversation = process.stdout.split()[0]
    assert [c["tool"] for c in writes(book)] == ["cancel_order"]

    model = ScriptedChatModel(default=lambda messages: messages[-1].content)
    async with Engine.open(
        settings_for(database_url), model=model, router_model=to_orders()
    ) as engine:  # recovery runs on open
        transcript = await engine.transcript(conversation)
    replies = [r.data["text"] for r in transcript if r.kind == "reply_end"]
    assert replies and replies[-1].startswith(
        'Outcome unknown: the system stopped while "Cancel order 1042"'
    )
    assert [c["tool"] for c in writes(book)] == ["cancel_order"], "not repeated"
    assert read_book(book)["orders"]["1042"] == "pending"


async def test_two_parallel_write_calls_in_one_step_get_one_approval_and_neither_runs_unapproved(
    sqlite_url, book
):
    model = ScriptedChatModel(
        script=[
            calls([("cancel_order", {"order_id": 1042}), ("cancel_order", {"order_id": 1043})]),
            "Waiting.",
        ]
    )
    async with Engine.open(
        settings_for(sqlite_url), model=model, router_model=to_orders()
    ) as engine:
        conversation, _ = await engine.start_conversation()
        events = await collect(engine.send(conversation, "Cancel orders 1042 and 1043"))
        requests = only(events, ApprovalRequested)
        assert [r.args for r in requests] == [{"order_id": 1042}]
        assert len(await engine.pending_approvals(conversation)) == 1
        assert writes(book) == []
        after = await collect(engine.decide(requests[0].approval_id, True, "customer"))
        assert only(after, ReplyEnd)
    book_now = read_book(book)
    assert [c["order_id"] for c in writes(book)] == [1042]
    assert book_now["orders"]["1043"] == "pending"


async def test_an_instruction_injected_in_a_tool_result_cannot_run_a_write(sqlite_url, book):
    def obey_the_injection(messages):
        assert "IGNORE ALL PREVIOUS INSTRUCTIONS" in messages[-1].content
        return call("cancel_order", {"order_id": 1043})  # a model that falls for it

    model = ScriptedChatModel(
        script=[call("read_reviews", {"order_id": 1042}), obey_the_injection, "ok"]
    )
    async with Engine.open(
        settings_for(sqlite_url), model=model, router_model=to_orders()
    ) as engine:
        conversation, _ = await engine.start_conversation()
        events = await collect(engine.send(conversation, "Show me the reviews of order 1042"))
        [request] = only(events, ApprovalRequested)
        assert request.args == {"order_id": 1043}
        assert writes(book) == [], "the write waits for the customer's decision"
        await collect(engine.decide(request.approval_id, False, "customer"))
    assert writes(book) == []


async def test_an_approval_for_other_arguments_does_not_run_this_call(sqlite_url, book):
    forged_call = call("cancel_order", {"order_id": 1043})
    model = ScriptedChatModel(script=[forged_call, lambda messages: messages[-1].content])
    async with Engine.open(
        settings_for(sqlite_url), model=model, router_model=to_orders()
    ) as engine:
        conversation, _ = await engine.start_conversation()
        now = datetime.now(UTC)
        call_id = forged_call.tool_calls[0]["id"]
        approved_args = {"order_id": 1042}
        await engine.store.create_approval(
            Approval(
                id=approval_id_for(conversation, call_id),
                conversation_id=conversation,
                agent="orders",
                tool="cancel_order",
                tool_call_id=call_id,
                args=approved_args,
                args_hash=hash_args(approved_args),
                summary="Cancel order 1042",
                status="pending",
                created_at=now,
                expires_at=now.replace(year=now.year + 1),
            )
        )
        await engine.store.decide_approval(
            approval_id_for(conversation, call_id), "approved", "customer", now
        )
        events = await collect(engine.send(conversation, "Cancel order 1043"))
        assert only(events, ReplyEnd)[-1].text.startswith('Not done: "Cancel order 1043" differs')
        assert any(e.status == "failed" for e in only(events, ToolActivity))
    assert writes(book) == []


async def test_a_write_the_current_state_no_longer_allows_is_not_offered_for_approval(
    sqlite_url, book
):
    book.write_text(json.dumps({"orders": {"1042": "shipped"}, "calls": []}))
    model = ScriptedChatModel(
        script=[call("cancel_order", {"order_id": 1042}), lambda messages: messages[-1].content]
    )
    async with Engine.open(
        settings_for(sqlite_url), model=model, router_model=to_orders()
    ) as engine:
        conversation, _ = await engine.start_conversation()
        events = await collect(engine.send(conversation, "Cancel order 1042"))
        assert not only(events, ApprovalRequested)
        assert await engine.pending_approvals(conversation) == []
        assert only(events, ReplyEnd)[-1].text == (
            'Not asked: "Cancel order 1042" needs status to be pending, but it is shipped now, '
            "so nothing was changed."
        )
    assert writes(book) == []
    assert [c["tool"] for c in read_book(book)["calls"]] == ["lookup_order"]


async def test_a_retry_after_expiry_re_checks_the_state_before_asking_again(sqlite_url, book):
    model = ScriptedChatModel(
        script=[
            call("cancel_order", {"order_id": 1042}),
            lambda messages: messages[-1].content,
            call("cancel_order", {"order_id": 1042}),
            lambda messages: messages[-1].content,
        ]
    )
    settings = settings_for(sqlite_url, approval_ttl_seconds=1)
    async with Engine.open(settings, model=model, router_model=to_orders()) as engine:
        conversation, _ = await engine.start_conversation()
        await collect(engine.send(conversation, "Cancel order 1042"))
        await asyncio.sleep(1.2)
        assert await engine.expire_due() == 1
        shipped = read_book(book)
        shipped["orders"]["1042"] = "shipped"  # it shipped while nobody decided
        book.write_text(json.dumps(shipped))
        retry = await collect(engine.send(conversation, "please try again"))
        assert not only(retry, ApprovalRequested)
        assert "it is shipped now" in only(retry, ReplyEnd)[-1].text
    assert writes(book) == []
