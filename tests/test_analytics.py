"""Analytics over a window of conversations, on SQLite and PostgreSQL: the zero state, a seeded
set with known answers (written through the store's own methods), day buckets, the operator
endpoints over real HTTP (JSON and CSV, token required) and a conversation run through the chat
server."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from chat_client import Chat, cancel_order_1042, connect, server_settings
from smart_support.analytics import Analytics, compute, csv_rows
from smart_support.server.background import serve_in_thread
from smart_support.settings import Settings
from smart_support.store import Store, open_persistence, rows
from smart_support.store.base import hash_args
from smart_support.store.records import Approval, Usage

OPERATOR = "op-secret-token-for-analytics"
DAY_A = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
DAY_B = datetime(2026, 11, 11, 15, 30, tzinfo=UTC)
BEFORE = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
SINCE = datetime(2026, 11, 10, tzinfo=UTC)
UNTIL = datetime(2026, 11, 12, tzinfo=UTC)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    async with open_persistence(settings) as opened:
        yield opened.store


async def conversation_on(
    store: Store, monkeypatch: pytest.MonkeyPatch, cid: str, when: datetime
) -> None:
    """A conversation created at `when` (the store stamps it with rows.now())."""
    monkeypatch.setattr(rows, "now", lambda: when)
    await store.create_conversation(cid, "hash")
    monkeypatch.undo()


async def log(store: Store, cid: str, *events: tuple[str, str | None, dict[str, Any]]) -> None:
    for kind, agent, data in events:
        await store.append_event(cid, kind, agent, data)


async def approval(
    store: Store, cid: str, name: str, created: datetime, status: str, after: float = 0
) -> None:
    await store.create_approval(
        Approval(
            id=name,
            conversation_id=cid,
            agent="orders",
            tool="cancel_order",
            tool_call_id=f"call-{name}",
            args={"order_id": 1},
            args_hash=hash_args({"order_id": 1}),
            summary="Cancel order 1",
            status="pending",
            created_at=created,
            expires_at=created + timedelta(hours=1),
        )
    )
    if status != "pending":
        await store.decide_approval(
            name, status, "operator:sam", created + timedelta(seconds=after)
        )  # type: ignore[arg-type]


async def usage(
    store: Store, cid: str, agent: str, model: str, i: int, o: int, cost: float
) -> None:
    await store.record_usage(Usage(cid, agent, model, i, o, cost, created_at=DAY_B))


def tool(status: str, name: str = "order_status") -> dict[str, Any]:
    return {"tool": name, "status": status}


@pytest.fixture
async def seeded(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    """Three conversations in the window (two on DAY_A, one on DAY_B) and one before it."""
    for cid, when in (("c1", DAY_A), ("c2", DAY_A + timedelta(hours=1)), ("c3", DAY_B)):
        await conversation_on(store, monkeypatch, cid, when)
    await conversation_on(store, monkeypatch, "old", BEFORE)
    await log(
        store,
        "c1",
        ("customer_message", None, {"text": "where is 1"}),
        ("agent_selected", "orders", {"agent": "orders", "reason": "routed"}),
        ("tool_activity", "orders", tool("started")),
        ("tool_activity", "orders", tool("succeeded")),
        ("reply_end", "orders", {"text": "on its way"}),
        ("customer_message", None, {"text": "and 2"}),
        ("agent_selected", "orders", {"agent": "orders", "reason": "kept"}),
        ("tool_activity", "orders", tool("started")),
        ("tool_activity", "orders", tool("failed")),
    )
    await log(
        store,
        "c2",
        ("customer_message", None, {"text": "cancel 3"}),
        ("agent_selected", "orders", {"agent": "orders", "reason": "routed"}),
        ("handoff", "escalation", {"reason": "the customer asked for a person"}),
    )
    await log(
        store,
        "c3",
        ("customer_message", None, {"text": "a person please"}),
        ("agent_selected", "escalation", {"agent": "escalation", "reason": "escalation"}),
        ("tool", "billing", tool("started", "refund")),  # a legacy kind, read as tool_activity
        ("tool", "billing", tool("failed", "refund")),
    )
    await log(
        store,
        "old",
        ("customer_message", None, {"text": "long ago"}),
        ("handoff", "escalation", {"reason": "old"}),
    )
    await approval(store, "c1", "a1", DAY_A, "approved", after=10)
    await approval(store, "c2", "a2", DAY_A, "rejected", after=30)
    await approval(store, "c2", "a3", DAY_A, "expired", after=3600)
    await approval(store, "c3", "a4", DAY_B, "approved", after=20)
    await approval(store, "c3", "a5", DAY_B, "pending")
    await approval(store, "old", "a6", BEFORE, "approved", after=999)
    await usage(store, "c1", "orders", "model-a", 100, 20, 0.01)
    await usage(store, "c1", "router", "model-b", 10, 2, 0.001)
    await usage(store, "c2", "orders", "model-a", 50, 10, 0.005)
    await usage(store, "c3", "escalation", "model-a", 1, 1, 0.002)
    await usage(store, "old", "orders", "model-a", 1000, 1000, 1.0)
    return store


def totals(calls: int, i: int, o: int, cost: float) -> dict[str, Any]:
    return {"model_calls": calls, "input_tokens": i, "output_tokens": o, "cost_usd": cost}


# -- the figures --------------------------------------------------------------------------------


async def test_an_empty_database_answers_zeros_and_an_empty_series(store: Store) -> None:
    figures = await compute(store, SINCE, UNTIL)
    assert figures.model_dump(exclude={"since", "until"}) == {
        "bucket": "day",
        "conversations": 0,
        "turns": 0,
        "escalations": 0,
        "escalation_share": 0.0,
        "resolved": None,
        "resolution_rate": None,
        "cost_per_resolution_usd": None,
        "outcomes": {},
        "abandoned": None,
        "abandonment_rate": None,
        "feedback": {"up": 0, "down": 0, "satisfaction": None},
        "agents": {},
        "approvals": {
            "requested": 0,
            "approved": 0,
            "rejected": 0,
            "expired": 0,
            "cancelled": 0,
            "pending": 0,
            "median_seconds_to_decide": None,
        },
        "usage": totals(0, 0, 0, 0.0),
        "usage_by_agent": {},
        "usage_by_model": {},
        "series": [],
    }


async def test_a_seeded_window_counts_exactly_its_own_conversations(seeded: Store) -> None:
    figures = await compute(seeded, SINCE, UNTIL)
    assert (figures.conversations, figures.turns, figures.escalations) == (3, 4, 2)
    assert figures.escalation_share == pytest.approx(2 / 3, abs=1e-6)
    assert figures.resolved is None and figures.cost_per_resolution_usd is None
    agents = {name: a.model_dump(exclude={"usage"}) for name, a in figures.agents.items()}
    assert agents == {
        "orders": {"turns": 3, "tool_calls": 2, "tool_failures": 1},
        "escalation": {"turns": 1, "tool_calls": 0, "tool_failures": 0},
        "billing": {"turns": 0, "tool_calls": 1, "tool_failures": 1},
        "router": {"turns": 0, "tool_calls": 0, "tool_failures": 0},
    }
    assert figures.approvals.model_dump() == {
        "requested": 5,
        "approved": 2,
        "rejected": 1,
        "expired": 1,
        "cancelled": 0,
        "pending": 1,
        "median_seconds_to_decide": pytest.approx(20.0, abs=1e-3),
    }


async def test_tokens_and_cost_add_up_in_total_per_agent_and_per_model(seeded: Store) -> None:
    figures = await compute(seeded, SINCE, UNTIL)
    assert figures.usage.model_dump() == pytest.approx(totals(4, 161, 33, 0.018))
    by_agent = {k: v.model_dump() for k, v in figures.usage_by_agent.items()}
    assert by_agent == {
        "orders": pytest.approx(totals(2, 150, 30, 0.015)),
        "router": pytest.approx(totals(1, 10, 2, 0.001)),
        "escalation": pytest.approx(totals(1, 1, 1, 0.002)),
    }
    by_model = {k: v.model_dump() for k, v in figures.usage_by_model.items()}
    assert by_model == {
        "model-a": pytest.approx(totals(3, 151, 31, 0.017)),
        "model-b": pytest.approx(totals(1, 10, 2, 0.001)),
    }
    assert figures.agents["orders"].usage == figures.usage_by_agent["orders"]


async def test_the_series_has_a_bucket_per_day_of_the_conversations_creation(
    seeded: Store,
) -> None:
    figures = await compute(seeded, SINCE, UNTIL)
    assert [(p.bucket, p.conversations) for p in figures.series] == [
        ("2026-11-10", 2),
        ("2026-11-11", 1),
    ]
    assert [p.cost_usd for p in figures.series] == pytest.approx([0.016, 0.002])
    one_day = await compute(seeded, datetime(2026, 11, 11, tzinfo=UTC), UNTIL)
    assert (one_day.conversations, one_day.turns, one_day.approvals.requested) == (1, 1, 2)
    assert [p.bucket for p in one_day.series] == ["2026-11-11"]
    before = await compute(seeded, BEFORE, SINCE)
    assert (before.conversations, before.escalations, before.usage.cost_usd) == (1, 1, 1.0)
    assert before.approvals.median_seconds_to_decide == pytest.approx(999.0, abs=1e-3)


async def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await conversation_on(store, monkeypatch, "c", DAY_A)
    for name, after in (("x1", 4), ("x2", 10), ("x3", 1), ("x4", 100)):
        await approval(store, "c", name, DAY_A, "approved", after=after)
    figures = await compute(store, SINCE, UNTIL)
    assert figures.approvals.median_seconds_to_decide == pytest.approx(7.0, abs=1e-3)


# -- the endpoints --------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, sqlite_url: str, running_shop: str) -> Iterator[str]:
    database = sqlite_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    with serve_in_thread(server_settings(database, running_shop, operator_token=OPERATOR)) as url:
        yield url


def operator(url: str, token: str = OPERATOR) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"})


def parsed_csv(text: str) -> list[tuple[str, ...]]:
    return [tuple(row) for row in csv.reader(io.StringIO(text))]


async def test_the_endpoints_need_the_operator_token(server: str) -> None:
    async with operator(server, "wrong") as client, httpx.AsyncClient(base_url=server) as anon:
        for path in ("/api/v1/operator/analytics", "/api/v1/operator/analytics.csv"):
            assert (await client.get(path)).status_code == 401
            assert (await anon.get(path)).status_code == 401


async def test_an_empty_server_answers_zeros_in_json_and_csv(server: str) -> None:
    async with operator(server) as client:
        answer = await client.get("/api/v1/operator/analytics")
        table = await client.get("/api/v1/operator/analytics.csv")
        bad = await client.get(
            "/api/v1/operator/analytics",
            params={"since": UNTIL.isoformat(), "until": SINCE.isoformat()},
        )
    assert answer.status_code == 200, answer.text
    figures = Analytics.model_validate(answer.json())
    assert figures.until - figures.since == timedelta(days=30)
    assert (figures.conversations, figures.turns, figures.series) == (0, 0, [])
    assert answer.json()["resolved"] is None
    assert table.headers["content-type"].startswith("text/csv")
    outside_window = [r for r in parsed_csv(table.text) if r[0] != "window"]
    assert outside_window == [tuple(r) for r in csv_rows(figures) if r[0] != "window"]
    assert ("totals", "", "conversations", "0") in parsed_csv(table.text)
    assert bad.status_code == 400 and bad.json()["code"] == "bad_request"


async def test_a_conversation_through_the_chat_server_shows_in_json_and_csv(server: str) -> None:
    async with connect(server) as ws, operator(server) as client:
        chat = Chat(ws)
        await chat.start()
        request = await cancel_order_1042(chat)
        decided = await client.post(
            f"/api/v1/operator/approvals/{request['approval_id']}/decision",
            json={"decision": "approve", "operator": "sam"},
        )
        assert decided.status_code == 200, decided.text
        await chat.until("reply_end", "error")
        window = {
            "since": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "until": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        }
        answer = await client.get("/api/v1/operator/analytics", params=window)
        table = await client.get("/api/v1/operator/analytics.csv", params=window)
    figures = Analytics.model_validate(answer.json())
    assert (figures.conversations, figures.turns, figures.escalations) == (1, 1, 0)
    assert (figures.approvals.requested, figures.approvals.approved) == (1, 1)
    assert figures.approvals.median_seconds_to_decide is not None
    assert figures.agents["orders"].turns == 1
    assert figures.agents["orders"].tool_calls >= 1
    assert [p.conversations for p in figures.series] == [1]
    assert figures.series[0].bucket == datetime.now(UTC).date().isoformat()
    assert parsed_csv(table.text) == [tuple(r) for r in csv_rows(figures)]
