"""Accepting an import puts its agents live in the running server, without a restart.

The chat server runs on loopback (offline model) with a base agents.yaml that has only a
fallback agent, next to the demo shop. The operator imports the shop's own spec over REST and
accepts it: new conversations are answered by the generated order agent's imported tools (an
order's status; a cancellation that waits for approval and then reaches the shop), while a
conversation that started before keeps going. A draft whose agents cannot go live answers 422
and changes nothing; accepted imports are live again after a restart; a re-import of a changed
spec shows its diff against the live version and keeps the operator's earlier decisions.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from chat_client import Chat, ServerFactory, connect, of_type, order_status, server_settings
from smart_support.demo.shop import create_app as create_shop
from smart_support.errors import ConfigError
from smart_support.openapi.classify import Proposal, classify
from smart_support.openapi.classify.review import (
    carried_changes,
    current_proposal,
    operations_diff,
)
from smart_support.openapi.importer import convert
from smart_support.openapi.load import load_parsed
from smart_support.registry import load_registry
from smart_support.runtime.activation import DOCUMENT_KEY, compose
from smart_support.server.background import serve_in_thread
from smart_support.settings import Settings
from smart_support.store.records import ImportChange, ImportDraft

pytest_plugins = ["server_fixture"]

OPERATOR = "op-secret-token-for-activation"
IMPORTS = "/api/v1/operator/imports"
BASE = """\
version: 1
agents:
  - name: help
    display_name: Help
    description: Greetings, thanks and anything the other agents do not handle.
    role: fallback
    personality: You are a friendly support assistant.
    examples: ["Hello", "Thanks, that's all", "What can you do?", "Hi there", "Goodbye"]
"""
MOMENT = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def base_agents(tmp_path: Path) -> Path:
    path = tmp_path / "agents.yaml"
    path.write_text(BASE, encoding="utf-8")
    return path


@pytest.fixture
def live_server(start_server: ServerFactory, base_agents: Path) -> Iterator[str]:
    with start_server(operator_token=OPERATOR, agents_file=base_agents) as url:
        yield url


def operator(url: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {OPERATOR}"}
    return httpx.AsyncClient(base_url=url, headers=headers, timeout=60)


async def imported(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post(IMPORTS, params={"wait": "true"}, json=body)
    assert response.status_code == 201, response.text
    draft: dict[str, Any] = response.json()
    return draft


async def accepted(client: httpx.AsyncClient, import_id: str) -> dict[str, Any]:
    response = await client.post(f"{IMPORTS}/{import_id}/accept", json={"operator": "ana"})
    assert response.status_code == 200, response.text
    draft: dict[str, Any] = response.json()
    assert draft["status"] == "accepted"
    return draft


async def tool_events(client: httpx.AsyncClient, conversation_id: str) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/operator/conversations/{conversation_id}/events",
        params={"kind": "tool_activity", "limit": 1000},
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["has_more"] is False
    return list(page["events"])


async def order_question(url: str) -> tuple[str, list[dict[str, Any]]]:
    """A new conversation asks for order 1042's status; its id and frames."""
    async with connect(url) as ws:
        chat = Chat(ws)
        started = await chat.start()
        frames = await chat.say("What's the status of order 1042?")
    return started["conversation_id"], frames


def shop_spec() -> dict[str, Any]:
    return copy.deepcopy(create_shop().openapi())


# -- against the running server --------------------------------------------------------------


async def test_accepting_the_shops_import_puts_its_order_agent_live_for_new_conversations(
    live_server: str, running_shop: str
) -> None:
    async with connect(live_server) as ws, operator(live_server) as client:
        before = Chat(ws)
        await before.start()
        hello = await before.say("Hello")
        assert hello[-1]["type"] == "reply_end" and hello[-1]["agent"] == "help"

        draft = await imported(client, url=f"{running_shop}/openapi.json")
        assert draft["live_agents"] == []
        done = await accepted(client, draft["id"])
        assert "order" in done["live_agents"] and done["accepted_by"] == "operator:ana"
        live = (await client.get(f"{IMPORTS}/live")).json()
        assert [i["import_id"] for i in live["imports"]] == [draft["id"]]
        assert "get_order" in live["imports"][0]["tools"] and live["failed"] == {}

        conversation_id, frames = await order_question(live_server)
        assert frames[-1]["type"] == "reply_end", frames
        assert frames[-1]["agent"] == "order" and "1042" in frames[-1]["text"]
        events = await tool_events(client, conversation_id)
        assert {(e["agent"], e["data"]["tool"]) for e in events} == {("order", "get_order")}
        assert events[-1]["data"]["status"] == "succeeded"

        # The conversation that started before the accept goes on, now with the new agents.
        after = await before.say("What's the status of order 1042?")
        assert after[-1]["type"] == "reply_end" and "1042" in after[-1]["text"], after
        assert not of_type(hello + after, "error")


async def test_cancelling_order_1042_with_the_imported_tool_waits_for_approval_then_cancels(
    live_server: str, running_shop: str
) -> None:
    async with operator(live_server) as client:
        draft = await imported(client, url=f"{running_shop}/openapi.json")
        await accepted(client, draft["id"])
    async with connect(live_server) as ws:
        chat = Chat(ws)
        await chat.start()
        frames = await chat.say("Cancel order 1042", "approval_requested", "reply_end", "error")
        request = frames[-1]
        assert request["type"] == "approval_requested", frames
        assert request["args"] == {"order_id": 1042} and "1042" in request["summary"]
        assert await order_status(running_shop, 1042) != "cancelled", "nothing before approval"
        await chat.send(type="decision", approval_id=request["approval_id"], decision="approve")
        done = await chat.until("reply_end", "error")
    assert of_type(done, "approval_resolved")[0]["status"] == "approved"
    assert done[-1]["type"] == "reply_end", done
    assert await order_status(running_shop, 1042) == "cancelled"
    async with operator(live_server) as client:
        actions = (await client.get("/api/v1/operator/actions")).json()
    assert [(a["tool"], a["status"]) for a in actions] == [("cancel_order", "succeeded")]


async def test_a_draft_whose_agents_cannot_go_live_answers_422_and_changes_nothing(
    live_server: str, running_shop: str
) -> None:
    async with operator(live_server) as client:
        good = await imported(client, url=f"{running_shop}/openapi.json")
        await accepted(client, good["id"])
        bad = await imported(client, document=shop_spec(), name="Broken shop")
        # A summary naming an argument the operation does not have passes as text, but the
        # toolkit refuses it when the agents are built.
        changed = await client.post(
            f"{IMPORTS}/{bad['id']}/changes",
            json={"operation": "cancel_order", "field": "summary", "value": "Cancel {nothing}"},
        )
        assert changed.status_code == 201, changed.text
        refused = await client.post(f"{IMPORTS}/{bad['id']}/accept")
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "activation_failed"
        assert "{nothing}" in refused.json()["message"]
        assert (await client.get(f"{IMPORTS}/{bad['id']}")).json()["status"] == "draft"
        live = (await client.get(f"{IMPORTS}/live")).json()
        assert [i["import_id"] for i in live["imports"]] == [good["id"]]
    _, frames = await order_question(live_server)
    assert frames[-1]["type"] == "reply_end" and frames[-1]["agent"] == "order", frames


async def test_a_document_with_a_local_file_reference_is_never_activated(
    live_server: str, running_shop: str
) -> None:
    spec = shop_spec()
    spec["components"]["schemas"]["Leak"] = {"$ref": "/etc/passwd"}
    async with operator(live_server) as client:
        # Sent inline the reference is not followed (a warning), so the import works...
        draft = await imported(client, document=spec, name="Leaky", server=running_shop)
        refused = await client.post(f"{IMPORTS}/{draft['id']}/accept")
        # ... but loaded from a file it would be: activation refuses the document.
        assert refused.status_code == 422, refused.text
        assert "local file" in refused.json()["message"]
        assert (await client.get(f"{IMPORTS}/{draft['id']}")).json()["status"] == "draft"


async def test_after_a_restart_on_the_same_database_the_accepted_agents_are_live_again(
    start_server: ServerFactory, base_agents: Path, running_shop: str
) -> None:
    with start_server(operator_token=OPERATOR, agents_file=base_agents) as url:
        async with operator(url) as client:
            draft = await imported(
                client, document=shop_spec(), name="Demo shop", server=running_shop
            )
            await accepted(client, draft["id"])
    with start_server(operator_token=OPERATOR, agents_file=base_agents) as url:
        async with operator(url) as client:
            live = (await client.get(f"{IMPORTS}/live")).json()
            assert [i["import_id"] for i in live["imports"]] == [draft["id"]]
            again = (await client.get(f"{IMPORTS}/{draft['id']}")).json()
            assert "order" in again["live_agents"]
            assert DOCUMENT_KEY not in again["report"]
            conversation_id, frames = await order_question(url)
            assert frames[-1]["type"] == "reply_end" and frames[-1]["agent"] == "order"
            events = await tool_events(client, conversation_id)
            assert [(e["data"]["tool"], e["data"]["status"]) for e in events] == [
                ("get_order", "started"),
                ("get_order", "succeeded"),
            ]


async def test_a_reimported_changed_spec_shows_its_diff_and_keeps_the_earlier_decisions(
    live_server: str, running_shop: str
) -> None:
    spec = shop_spec()
    async with operator(live_server) as client:
        first = await imported(client, document=spec, name="Demo shop", server=running_shop)
        for body in (
            {"operation": "cancel_order", "field": "summary", "value": "Cancel {order_id} now"},
            {"operation": "start_return", "field": "relevance", "value": "off"},
        ):
            changed = await client.post(
                f"{IMPORTS}/{first['id']}/changes", json={**body, "operator": "bo"}
            )
            assert changed.status_code == 201, changed.text
        await accepted(client, first["id"])

        paths = spec["paths"]
        del paths["/products/{product_id}"]  # get_product goes away
        paths["/gift-cards/{code}"] = {
            "get": {
                "operationId": "get_gift_card",
                "summary": "Get a gift card",
                "tags": ["gift cards"],
                "parameters": [
                    {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "The card"}},
            }
        }
        tracking = next(iter(paths["/orders/{order_id}/tracking"].values()))
        tracking.setdefault("parameters", []).append(
            {"name": "carrier", "in": "query", "schema": {"type": "string"}}
        )
        second = await imported(client, document=spec, name="Demo shop", server=running_shop)
        carried = {(c["operation"], c["field"]): c for c in second["changes"]}
        assert carried[("cancel_order", "summary")]["value"] == "Cancel {order_id} now"
        assert carried[("cancel_order", "summary")]["changed_by"] == "operator:bo"
        assert carried[("start_return", "relevance")]["value"] == "off"

        diff = (await client.get(f"{IMPORTS}/{second['id']}/diff")).json()
        assert diff["against"] == first["id"]
        assert [op["name"] for op in diff["added"]] == ["get_gift_card"]
        assert [op["name"] for op in diff["removed"]] == ["get_product"]
        (tracking_diff,) = diff["changed"]
        assert tracking_diff["name"] == "get_order_tracking"
        assert "carrier" in tracking_diff["fields"]["parameters"]["to"]
        assert {(c["operation"], c["field"]) for c in diff["carried"]} == set(carried)

        done = await accepted(client, second["id"])
        live = (await client.get(f"{IMPORTS}/live")).json()
        assert [i["import_id"] for i in live["imports"]] == [second["id"]]
        tools = live["imports"][0]["tools"]
        assert "get_gift_card" in tools and "get_product" not in tools
        assert "start_return" not in tools and "order" in done["live_agents"]
    _, frames = await order_question(live_server)
    assert frames[-1]["type"] == "reply_end" and frames[-1]["agent"] == "order", frames


async def test_activation_works_on_postgresql_and_survives_a_restart(
    pg_url: str, running_shop: str, base_agents: Path
) -> None:
    settings = server_settings(
        pg_url, running_shop, operator_token=OPERATOR, agents_file=base_agents
    )
    with serve_in_thread(settings) as url:
        async with operator(url) as client:
            draft = await imported(client, url=f"{running_shop}/openapi.json")
            await accepted(client, draft["id"])
        _, frames = await order_question(url)
        assert frames[-1]["type"] == "reply_end" and frames[-1]["agent"] == "order", frames
    with serve_in_thread(settings) as url:
        async with operator(url) as client:
            live = (await client.get(f"{IMPORTS}/live")).json()
    assert [i["import_id"] for i in live["imports"]] == [draft["id"]]


# -- the parts on their own ------------------------------------------------------------------


def _change(operation: str, field: str, value: Any, n: int = 1) -> ImportChange:
    return ImportChange(n, "imp_x", operation, field, value, None, "operator:cy", MOMENT)


async def _shop_import() -> tuple[dict[str, Any], Proposal]:
    documents = await load_parsed(shop_spec(), Settings(llm_provider="offline"))
    result = convert(documents, source="document", server="http://127.0.0.1:9")
    return result.report(), classify(result)


async def test_the_current_proposal_applies_the_operators_changes_in_order() -> None:
    _, proposal = await _shop_import()
    current = current_proposal(
        proposal,
        [
            _change("get_order", "access", "write"),
            _change("get_order_tracking", "agent", "shipping"),
            _change("start_return", "relevance", "off"),
            _change("health", "relevance", "on"),
            _change("start_return", "relevance", "on"),
            _change("no_such_operation", "access", "read"),
        ],
    )
    access = current.operation("get_order").access
    assert (access.value, access.source, access.confidence) == ("write", "operator", 1.0)
    assert access.reason == "changed by operator:cy"
    agents = {a.name: a for a in current.agents}
    assert agents["shipping"].tools == ["get_order_tracking"]
    assert len(agents["shipping"].examples) >= 5
    assert "get_order_tracking" not in agents["order"].tools
    assert "start_return" in agents["order"].tools  # back where it was
    assert current.operation("health").agent == "general"
    assert proposal.operation("get_order").access.source == "rule", "the original is unchanged"


async def test_composed_agents_never_replace_base_agents_and_drop_their_own_fallback(
    tmp_path: Path,
) -> None:
    report, proposal = await _shop_import()
    base_file = tmp_path / "agents.yaml"
    base_file.write_text(
        BASE
        + """\
  - name: order
    description: The base's own order agent.
    tools:
      - python: smart_support.demo.tools:get_order_status
        name: get_order
        access: read
""",
        encoding="utf-8",
    )
    base = load_registry(base_file)
    draft = ImportDraft(
        id="imp_a",
        name="Demo Shop",
        source="document",
        status="accepted",
        counts={},
        report={**report, DOCUMENT_KEY: shop_spec()},
        proposal=proposal.model_dump(mode="json", by_alias=True),
        created_by="operator",
        created_at=MOMENT,
        updated_at=MOMENT,
    )
    registry, (live,) = compose(base, [(draft, [])], tmp_path)
    names = [a.name for a in registry.agents]
    assert names[:2] == ["help", "order"] and "demo_shop_order" in names
    assert [a.name for a in registry.agents if a.role == "fallback"] == ["help"]
    ordered = registry.agent("demo_shop_order")
    renamed = {t.tool: t for t in ordered.tools}
    assert renamed["get_order"].name == "demo_shop_get_order"
    assert renamed["cancel_order"].check is not None
    assert renamed["cancel_order"].check.tool == "demo_shop_get_order"
    assert registry.openapi_imports["demo_shop"].server == "http://127.0.0.1:9"
    assert live.name == "demo_shop" and "demo_shop_order" in live.agents

    missing = ImportDraft(**{**draft.__dict__, "report": report})
    with pytest.raises(ConfigError, match="not kept"):
        compose(base, [(missing, [])], tmp_path)


async def test_the_diff_and_the_carried_changes_follow_the_operations() -> None:
    report, _ = await _shop_import()
    new = copy.deepcopy(report)
    new["operations"] = [op for op in new["operations"] if op["name"] != "get_product"]
    cancel = next(op for op in new["operations"] if op["name"] == "cancel_order")
    cancel["access"] = "read"
    diff = operations_diff(report, new)
    assert diff["added"] == [] and [op["name"] for op in diff["removed"]] == ["get_product"]
    assert diff["changed"] == [
        {"name": "cancel_order", "fields": {"access": {"from": "write", "to": "read"}}}
    ]
    changes = [
        _change("get_product", "summary", "Gone", 1),
        _change("cancel_order", "summary", "First", 2),
        _change("cancel_order", "summary", "Second", 3),
        _change("cancel_order", "parameter.nope.role", "config", 4),
    ]
    kept = carried_changes(changes, new)
    assert [(c.operation, c.value) for c in kept] == [("cancel_order", "Second")]


async def test_an_approval_waiting_when_an_import_goes_live_is_approved_and_finishes(
    start_server: ServerFactory, running_shop: str
) -> None:
    """On the demo agents (whose names the generated agents must not take), a cancellation
    waits for approval while the shop's import goes live; approving it resumes the paused
    step on the new graph, where the demo's agent still is."""
    with start_server(operator_token=OPERATOR) as url:
        async with connect(url) as ws, operator(url) as client:
            chat = Chat(ws)
            await chat.start()
            frames = await chat.say("Cancel order 1042", "approval_requested", "reply_end")
            request = frames[-1]
            assert request["type"] == "approval_requested", frames
            draft = await imported(client, url=f"{running_shop}/openapi.json")
            done = await accepted(client, draft["id"])
            demo_agents = {"orders", "faq", "escalation", "general"}
            assert done["live_agents"] and not set(done["live_agents"]) & demo_agents
            await chat.send(type="decision", approval_id=request["approval_id"], decision="approve")
            after = await chat.until("reply_end", "error")
    assert after[-1]["type"] == "reply_end", after
    assert await order_status(running_shop, 1042) == "cancelled"
