"""The Store conformance suite: every test runs on a real SQLite file and on real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from smart_support.errors import ApprovalError, ConfigError, ConversationNotFound
from smart_support.settings import Settings
from smart_support.store import (
    Approval,
    Persistence,
    Store,
    Usage,
    create_store,
    hash_args,
    open_persistence,
)
from smart_support.store.migrations import POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS
from smart_support.store.records import OutboxMessage

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def settings_for(url: str) -> Settings:
    return Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]


@pytest.fixture
async def persistence(database_url: str) -> AsyncIterator[Persistence]:
    async with open_persistence(settings_for(database_url)) as opened:
        yield opened


@pytest.fixture
def store(persistence: Persistence) -> Store:
    return persistence.store


def approval(
    approval_id: str = "ap-1",
    conversation_id: str = "c-1",
    expires_at: datetime = T0 + timedelta(minutes=30),
    **changes: Any,
) -> Approval:
    args = changes.pop("args", {"order_id": "A-1", "reason": "late"})
    fields: dict[str, Any] = {
        "id": approval_id,
        "conversation_id": conversation_id,
        "agent": "orders",
        "tool": "cancel_order",
        "tool_call_id": "call-1",
        "args": args,
        "args_hash": hash_args(args),
        "summary": "Cancel order A-1",
        "status": "pending",
        "created_at": T0,
        "expires_at": expires_at,
    }
    return Approval(**{**fields, **changes})


async def applied_versions(store: Store) -> list[int]:
    """Read schema_migrations through the adapter's own connection."""
    sql = "SELECT version FROM schema_migrations ORDER BY version"
    found = await store._fetch("test", sql)  # type: ignore[attr-defined]
    return [int(row["version"]) for row in found]


# -- migrations ---------------------------------------------------------------------------------


async def test_setup_records_every_migration_once_and_running_it_again_changes_nothing(
    store: Store,
) -> None:
    expected = len(POSTGRES_MIGRATIONS if store.dialect == "postgres" else SQLITE_MIGRATIONS)  # type: ignore[attr-defined]
    assert await applied_versions(store) == list(range(1, expected + 1))
    await store.create_conversation("c-1", "h")
    await store.setup()
    await store.setup()
    assert await applied_versions(store) == list(range(1, expected + 1))
    assert await store.get_conversation("c-1") is not None


async def test_two_stores_setting_up_one_empty_database_at_the_same_time_both_succeed(
    database_url: str,
) -> None:
    first, second = create_store(database_url), create_store(database_url)
    try:
        await asyncio.gather(first.setup(), second.setup())
        assert await applied_versions(first) == await applied_versions(second)
        assert await applied_versions(first) == list(range(1, len(SQLITE_MIGRATIONS) + 1))
    finally:
        await first.close()
        await second.close()


async def test_two_processes_opening_one_empty_database_at_the_same_time_both_succeed(
    database_url: str,
) -> None:
    async with AsyncExitStack() as stack:
        first, second = await asyncio.gather(
            stack.enter_async_context(open_persistence(settings_for(database_url))),
            stack.enter_async_context(open_persistence(settings_for(database_url))),
        )
        await first.store.create_conversation("c-1", "h")
        assert await second.store.get_conversation("c-1") is not None


# -- conversations ------------------------------------------------------------------------------


async def test_a_created_conversation_reads_back_with_a_utc_timestamp(store: Store) -> None:
    before = datetime.now(UTC)
    created = await store.create_conversation("c-1", "hash-1")
    found = await store.get_conversation("c-1")
    assert found == created
    assert found is not None
    assert found.token_hash == "hash-1"
    assert found.active_agent is None
    assert found.escalated is False
    assert found.created_at.utcoffset() == timedelta(0)
    assert found.created_at >= before - timedelta(seconds=1)
    assert await store.get_conversation("nope") is None


async def test_creating_a_conversation_twice_returns_the_first_one_unchanged(
    store: Store,
) -> None:
    first = await store.create_conversation("c-1", "hash-1")
    again = await store.create_conversation("c-1", "hash-2")
    assert again == first
    assert again.token_hash == "hash-1"


async def test_conversations_are_listed_newest_first_in_pages(store: Store) -> None:
    for n in range(5):
        await store.create_conversation(f"c-{n}", "h")
    everything = await store.list_conversations()
    assert [c.id for c in everything] == ["c-4", "c-3", "c-2", "c-1", "c-0"]
    page = await store.list_conversations(limit=2, offset=1)
    assert [c.id for c in page] == ["c-3", "c-2"]


async def test_the_active_agent_and_the_escalation_of_a_conversation_are_kept(
    store: Store,
) -> None:
    await store.create_conversation("c-1", "h")
    await store.set_active_agent("c-1", "orders")
    await store.mark_escalated("c-1")
    found = await store.get_conversation("c-1")
    assert found is not None
    assert (found.active_agent, found.escalated) == ("orders", True)
    await store.set_active_agent("c-1", None)
    found = await store.get_conversation("c-1")
    assert found is not None
    assert found.active_agent is None


async def test_changing_an_unknown_conversation_raises_conversation_not_found(
    store: Store,
) -> None:
    with pytest.raises(ConversationNotFound):
        await store.set_active_agent("ghost", "orders")
    with pytest.raises(ConversationNotFound):
        await store.mark_escalated("ghost")
    with pytest.raises(ConversationNotFound):
        await store.append_event("ghost", "message", None, {})


# -- events -------------------------------------------------------------------------------------


async def test_events_are_numbered_from_one_per_conversation_and_read_back_in_order(
    store: Store,
) -> None:
    await store.create_conversation("c-1", "h")
    await store.create_conversation("c-2", "h")
    for n in range(4):
        await store.append_event("c-1", "message", "orders", {"n": n, "text": "héllo"})
    other = await store.append_event("c-2", "message", None, {"n": 0})
    assert other.seq == 1
    events = await store.events("c-1")
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert [e.data for e in events] == [{"n": n, "text": "héllo"} for n in range(4)]
    assert events[0].kind == "message"
    assert events[0].agent == "orders"
    assert events[0].created_at.utcoffset() == timedelta(0)
    assert [e.seq for e in await store.events("c-1", after_seq=2)] == [3, 4]
    assert [e.seq for e in await store.events("c-1", after_seq=1, limit=2)] == [2, 3]


async def test_concurrent_appenders_from_two_store_instances_get_consecutive_distinct_seqs(
    store: Store, database_url: str
) -> None:
    await store.create_conversation("c-1", "h")
    other = create_store(database_url)
    await other.setup()
    try:
        appends = [
            (store if n % 2 else other).append_event("c-1", "message", None, {"n": n})
            for n in range(30)
        ]
        records = await asyncio.gather(*appends)
    finally:
        await other.close()
    assert sorted(r.seq for r in records) == list(range(1, 31))
    stored = await store.events("c-1")
    assert sorted(e.data["n"] for e in stored) == list(range(30))


# -- approvals ----------------------------------------------------------------------------------


async def test_creating_an_approval_twice_returns_the_stored_one_unchanged(store: Store) -> None:
    first = await store.create_approval(approval())
    assert first == approval()
    again = await store.create_approval(approval(summary="something else"))
    assert again == first
    assert await store.get_approval("ap-1") == first
    assert await store.get_approval("ap-unknown") is None


async def test_approvals_are_listed_by_conversation_and_status(store: Store) -> None:
    await store.create_approval(approval("ap-1", "c-1"))
    await store.create_approval(approval("ap-2", "c-1", created_at=T0 + timedelta(seconds=1)))
    await store.create_approval(approval("ap-3", "c-2"))
    await store.decide_approval("ap-2", "rejected", "operator", T0)
    assert [a.id for a in await store.list_approvals()] == ["ap-1", "ap-3"]
    assert [a.id for a in await store.list_approvals("c-1")] == ["ap-1"]
    assert [a.id for a in await store.list_approvals("c-1", None)] == ["ap-1", "ap-2"]
    assert [a.id for a in await store.list_approvals(None, "rejected")] == ["ap-2"]


async def test_an_approval_is_decided_once_and_a_second_decision_names_its_status(
    store: Store,
) -> None:
    await store.create_approval(approval())
    decided = await store.decide_approval("ap-1", "approved", "operator-7", T0)
    assert decided.status == "approved"
    assert decided.decided_by == "operator-7"
    assert decided.decided_at == T0
    assert decided.args == {"order_id": "A-1", "reason": "late"}
    with pytest.raises(ApprovalError, match="already approved"):
        await store.decide_approval("ap-1", "rejected", "operator-8", T0)
    stored = await store.get_approval("ap-1")
    assert stored is not None
    assert (stored.status, stored.decided_by) == ("approved", "operator-7")


async def test_approving_at_or_after_expiry_stores_expired_and_raises(store: Store) -> None:
    await store.create_approval(approval(expires_at=T0))
    with pytest.raises(ApprovalError, match="expired at"):
        await store.decide_approval("ap-1", "approved", "operator", T0 + timedelta(seconds=1))
    stored = await store.get_approval("ap-1")
    assert stored is not None
    assert stored.status == "expired"
    with pytest.raises(ApprovalError, match="already expired"):
        await store.decide_approval("ap-1", "approved", "operator", T0)


async def test_the_expiry_sweeper_and_a_canceller_may_decide_without_error(store: Store) -> None:
    await store.create_approval(approval("ap-1", expires_at=T0))
    await store.create_approval(approval("ap-2", expires_at=T0))
    later = T0 + timedelta(hours=1)
    assert (await store.decide_approval("ap-1", "expired", "sweeper", later)).status == "expired"
    assert (await store.decide_approval("ap-2", "cancelled", "runtime", later)).status == (
        "cancelled"
    )


async def test_deciding_an_unknown_approval_or_to_pending_is_refused(store: Store) -> None:
    with pytest.raises(ApprovalError, match="not found"):
        await store.decide_approval("ap-ghost", "approved", "operator", T0)
    await store.create_approval(approval())
    with pytest.raises(ValueError, match="pending"):
        await store.decide_approval("ap-1", "pending", "operator", T0)


async def test_an_approval_is_created_with_its_webhooks_in_one_transaction_once(
    store: Store,
) -> None:
    asked = OutboxMessage(
        "msg-1", "https://hooks.example/in", "approval.requested", "c-1", {"x": 1}, T0
    )
    first = await store.create_approval(approval(), [asked])
    again = await store.create_approval(approval(summary="asked again"), [asked])
    assert again == first  # the stored one, unchanged
    [delivery] = await store.list_webhook_deliveries()
    assert (delivery.id, delivery.event_type, delivery.conversation_id) == (
        "msg-1",
        "approval.requested",
        "c-1",
    )


async def test_of_many_concurrent_decisions_exactly_one_wins(store: Store) -> None:
    await store.create_approval(approval())
    outcomes = await asyncio.gather(
        *[
            store.decide_approval("ap-1", "approved" if n % 2 else "rejected", f"op-{n}", T0)
            for n in range(8)
        ],
        return_exceptions=True,
    )
    winners = [o for o in outcomes if isinstance(o, Approval)]
    assert len(winners) == 1
    assert all(isinstance(o, ApprovalError) for o in outcomes if o is not winners[0])
    assert await store.get_approval("ap-1") == winners[0]


async def test_due_approvals_are_the_pending_ones_past_expiry(store: Store) -> None:
    await store.create_approval(approval("ap-due", expires_at=T0))
    await store.create_approval(approval("ap-later", expires_at=T0 + timedelta(hours=2)))
    await store.create_approval(approval("ap-done", expires_at=T0))
    await store.decide_approval("ap-done", "cancelled", "runtime", T0 - timedelta(minutes=1))
    due = await store.due_approvals(T0 + timedelta(minutes=1))
    assert [a.id for a in due] == ["ap-due"]
    assert await store.due_approvals(T0 - timedelta(minutes=1)) == []


async def test_unfinished_approvals_are_decided_ones_whose_step_may_wait_to_be_resumed(
    store: Store,
) -> None:
    outcomes = ("not run", "running", "succeeded", "failed", "rejected", "pending", "old no")
    for n, outcome in enumerate(outcomes):
        created = T0 - timedelta(days=3) if outcome == "old no" else T0 + timedelta(seconds=n)
        await store.create_approval(
            approval(f"ap-{n}", created_at=created, expires_at=T0 + timedelta(hours=1))
        )
        if outcome == "pending":
            continue
        status = "rejected" if outcome.endswith("no") or outcome == "rejected" else "approved"
        await store.decide_approval(f"ap-{n}", status, "operator", T0 + timedelta(seconds=n))
        if outcome in ("running", "succeeded", "failed"):
            await store.begin_action(f"key-{n}", f"ap-{n}", "c-1", "cancel", {}, T0)
        if outcome in ("succeeded", "failed"):
            await store.finish_action(f"key-{n}", outcome, {"ok": 1}, T0)  # type: ignore[arg-type]
    unfinished = await store.unfinished_approvals(since=T0 - timedelta(days=1))
    assert [a.id for a in unfinished] == ["ap-0", "ap-1", "ap-4"]


# -- action ledger ------------------------------------------------------------------------------


async def test_an_action_is_begun_once_and_a_repeat_gets_the_stored_one(store: Store) -> None:
    action, created = await store.begin_action("key-1", "ap-1", "c-1", "cancel", {"id": 1}, T0)
    assert created is True
    assert (action.status, action.args, action.started_at) == ("started", {"id": 1}, T0)
    again, created_again = await store.begin_action(
        "key-1", "ap-1", "c-1", "cancel", {"id": 2}, T0 + timedelta(seconds=5)
    )
    assert created_again is False
    assert again == action


async def test_of_concurrent_beginners_with_one_key_exactly_one_creates_the_action(
    store: Store,
) -> None:
    results = await asyncio.gather(
        *[store.begin_action("key-1", "ap-1", "c-1", "cancel", {"n": n}, T0) for n in range(8)]
    )
    assert sum(created for _, created in results) == 1
    assert len({a.args["n"] for a, _ in results}) == 1


async def test_finishing_an_action_stores_its_status_result_and_time(store: Store) -> None:
    await store.begin_action("key-1", "ap-1", "c-1", "cancel", {"id": 1}, T0)
    done = T0 + timedelta(seconds=2)
    finished = await store.finish_action("key-1", "succeeded", {"refund": 12.5}, done)
    assert (finished.status, finished.result, finished.finished_at) == (
        "succeeded",
        {"refund": 12.5},
        done,
    )
    assert await store.get_action("key-1") == finished
    assert await store.get_action("key-2") is None
    with pytest.raises(LookupError):
        await store.finish_action("key-2", "failed", None, done)


# -- usage --------------------------------------------------------------------------------------


async def test_a_conversation_is_anonymous_until_an_identity_is_stored(store: Store) -> None:
    await store.create_conversation("c-1", "h")
    assert (await store.get_conversation("c-1")).identity is None  # type: ignore[union-attr]

    claims = {"customer_id": "17", "email": "maya@example.com", "method": "signed", "extra": {}}
    await store.set_identity("c-1", claims)

    assert (await store.get_conversation("c-1")).identity == claims  # type: ignore[union-attr]


async def test_failed_verifications_are_counted_per_conversation(store: Store) -> None:
    await store.create_conversation("c-1", "h")
    await store.create_conversation("c-2", "h")

    counts = [await store.count_failed_verification("c-1") for _ in range(3)]

    assert counts == [1, 2, 3]
    assert (await store.get_conversation("c-1")).verify_failures == 3  # type: ignore[union-attr]
    assert (await store.get_conversation("c-2")).verify_failures == 0  # type: ignore[union-attr]
    with pytest.raises(ConversationNotFound):
        await store.count_failed_verification("nope")


async def test_actions_are_listed_by_status_newest_first(store: Store) -> None:
    for index, key in enumerate(["k-1", "k-2", "k-3"]):
        await store.begin_action(
            key, "ap", "c-1", "cancel_order", {}, T0 + timedelta(minutes=index)
        )
    await store.finish_action("k-1", "unknown", None, T0)
    await store.finish_action("k-3", "unknown", None, T0)

    unknown = await store.list_actions("unknown")
    every = await store.list_actions()

    assert [a.idempotency_key for a in unknown] == ["k-3", "k-1"]
    assert [a.idempotency_key for a in every] == ["k-3", "k-2", "k-1"]


async def test_usage_is_recorded_and_read_back_per_conversation(store: Store) -> None:
    await store.record_usage(Usage("c-1", "orders", "m", 100, 20, 0.25, T0, {"cached": 3}))
    await store.record_usage(Usage("c-2", "router", "m", 10, 2, 0.01))
    await store.record_usage(Usage("c-1", "orders", "m", 50, 5, 0.125, T0))
    mine = await store.usage("c-1")
    assert [(u.input_tokens, u.cost_usd, u.extra) for u in mine] == [
        (100, 0.25, {"cached": 3}),
        (50, 0.125, {}),
    ]
    assert mine[0].created_at == T0
    everything = await store.usage()
    assert len(everything) == 3
    assert everything[1].created_at is not None


# -- size, durability, checkpointer -------------------------------------------------------------


async def test_stored_bytes_grow_when_data_is_written(store: Store) -> None:
    before = store.stored_bytes()
    assert before is not None
    assert before > 0
    await store.create_conversation("c-1", "h")
    for _ in range(100):
        await store.append_event("c-1", "message", None, {"blob": os.urandom(2000).hex()})
    after = store.stored_bytes()
    assert after is not None
    assert after >= before + 100 * 2000


async def test_everything_stored_is_there_after_closing_and_reopening(database_url: str) -> None:
    async with open_persistence(settings_for(database_url)) as first:
        await first.store.create_conversation("c-1", "h")
        await first.store.append_event("c-1", "message", None, {"text": "hi"})
        await first.store.create_approval(approval())
        await first.store.begin_action("key-1", "ap-1", "c-1", "cancel", {}, T0)
    async with open_persistence(settings_for(database_url)) as second:
        assert await second.store.get_conversation("c-1") is not None
        assert [e.data for e in await second.store.events("c-1")] == [{"text": "hi"}]
        assert await second.store.get_approval("ap-1") == approval()
        assert await second.store.get_action("key-1") is not None


class _Counter(TypedDict):
    count: int


def _counting_graph() -> StateGraph[_Counter]:
    builder = StateGraph(_Counter)
    builder.add_node("bump", lambda state: {"count": state["count"] + 1})
    builder.add_edge(START, "bump")
    builder.add_edge("bump", END)
    return builder


async def test_the_checkpointer_keeps_graph_state_across_reopening(database_url: str) -> None:
    config: RunnableConfig = {"configurable": {"thread_id": "c-1"}}
    async with open_persistence(settings_for(database_url)) as first:
        graph = _counting_graph().compile(checkpointer=first.checkpointer)
        assert (await graph.ainvoke(_Counter(count=41), config))["count"] == 42
    async with open_persistence(settings_for(database_url)) as second:
        graph = _counting_graph().compile(checkpointer=second.checkpointer)
        state = await graph.aget_state(config)
        assert state.values == {"count": 42}


async def test_a_postgres_url_may_be_spelled_postgres(pg_url: str) -> None:
    spelled = pg_url.replace("postgresql://", "postgres://", 1)
    async with open_persistence(settings_for(spelled)) as opened:
        assert opened.dialect == "postgres"
        await opened.store.create_conversation("c-1", "h")
        assert await opened.store.get_conversation("c-1") is not None


def test_an_in_memory_sqlite_url_is_refused_with_a_config_error() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_store("sqlite:///:memory:")


async def test_a_person_holds_a_conversation_until_handing_it_back(store: Store) -> None:
    await store.create_conversation("held", "hash")
    now = datetime.now(UTC)
    assert await store.hold_conversation("held", "Sam", now)
    assert not await store.hold_conversation("held", "Alex", now)  # one holder at a time
    stored = await store.get_conversation("held")
    assert stored is not None and stored.held_by == "Sam"
    assert stored.held_since is not None and abs((stored.held_since - now).total_seconds()) < 0.001
    assert await store.release_conversation("held")
    assert not await store.release_conversation("held")
    released = await store.get_conversation("held")
    assert released is not None and (released.held_by, released.held_since) == (None, None)
    with pytest.raises(ConversationNotFound):
        await store.hold_conversation("nobody", "Sam", now)
