"""The operator's imports over real HTTP: a spec by URL or as a document becomes a draft, which
the operator reads, changes, accepts or discards.

The chat server runs on loopback with the demo shop; the operator imports the shop's own spec
from its URL, and corpus specs as documents; hostile requests get clear errors. The draft flow
also runs on PostgreSQL, and a draft outlives a restart of the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from chat_client import ServerFactory, server_settings
from smart_support.openapi.load import MAX_BYTES
from smart_support.server.background import serve_in_thread
from smart_support.server.errors import MAX_BODY_BYTES
from smart_support.server.import_drafts import current_value
from smart_support.store.records import ImportChange, ImportDraft

pytest_plugins = ["server_fixture"]

OPERATOR = "op-secret-token-for-imports"
CORPUS = Path(__file__).parent / "data" / "openapi"
IMPORTS = "/api/v1/operator/imports"
#: The import answered when it has ended, as a draft (without: 202 and a job, test_import_jobs).
WAIT = f"{IMPORTS}?wait=true"


@pytest.fixture
def operator_url(start_server: ServerFactory) -> Iterator[str]:
    with start_server(operator_token=OPERATOR) as url:
        yield url


def operator(url: str, token: str = OPERATOR) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


async def test_an_operator_imports_the_shops_spec_by_url_and_gets_its_tools(
    operator_url: str, running_shop: str
) -> None:
    async with operator(operator_url) as client:
        response = await client.post(WAIT, json={"url": f"{running_shop}/openapi.json"})
    assert response.status_code == 201, response.text
    draft = response.json()
    assert draft["status"] == "draft"
    classified = {op["name"]: op for op in draft["proposal"]["operations"]}
    assert classified["cancel_order"]["access"]["value"] == "write"
    assert classified["health"]["agent"] is None
    assert draft["source"] == f"{running_shop}/openapi.json" and draft["id"].startswith("imp_")
    report = draft["report"]
    access = {op["name"]: op["access"] for op in report["operations"]}
    assert access["get_order"] == "read" and access["cancel_order"] == "write"
    assert report["skipped"] == []
    cancel = next(op for op in report["operations"] if op["name"] == "cancel_order")
    assert {"order_id", "reason"} <= set(cancel["input_schema"]["properties"])


async def test_a_document_as_json_with_a_server_url_is_imported_against_that_server(
    operator_url: str, running_shop: str
) -> None:
    async with operator(operator_url) as client:
        spec = (await client.get(f"{running_shop}/openapi.json")).json()
        response = await client.post(
            WAIT, json={"document": spec, "server": "https://shop.example.com/v2"}
        )
    assert response.status_code == 201, response.text
    servers = {op["server"] for op in response.json()["report"]["operations"]}
    assert servers == {"https://shop.example.com/v2"}


async def test_a_yaml_document_as_text_and_the_largest_corpus_spec_import(
    operator_url: str,
) -> None:
    yaml_text = (CORPUS / "swagger-petstore-1.0.27-SNAPSHOT.yaml").read_text()
    square = json.loads((CORPUS / "square-2.0.json").read_text())
    async with operator(operator_url) as client:
        petstore = await client.post(WAIT, json={"document": yaml_text})
        largest = await client.post(WAIT, json={"document": square, "remote_refs": False})
    assert petstore.status_code == 201, petstore.text
    assert "updatePet" in {op["name"] for op in petstore.json()["report"]["operations"]}
    assert largest.status_code == 201, largest.text
    assert len(largest.json()["report"]["operations"]) > 200
    assert largest.json()["counts"]["operations"] == len(largest.json()["report"]["operations"])
    assert len(json.dumps(square)) > MAX_BODY_BYTES  # over the limit of every other endpoint


async def test_without_the_token_a_large_body_is_refused_as_unauthorized_not_read(
    operator_url: str,
) -> None:
    body = json.dumps({"document": "x" * 1_000_000})
    async with operator(operator_url, token="wrong") as client:
        response = await client.post(
            WAIT, content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


async def test_a_body_over_the_spec_limit_is_refused_and_other_endpoints_keep_their_limit(
    operator_url: str,
) -> None:
    async with operator(operator_url) as client:
        huge = await client.post(
            WAIT,
            content=b"{" + b" " * (MAX_BYTES + 100 * 1024) + b"}",
            headers={"Content-Type": "application/json"},
        )
        other = await client.post(
            "/api/v1/operator/approvals/x/decision",
            content=b" " * (MAX_BODY_BYTES + 1),
            headers={"Content-Type": "application/json"},
        )
    assert huge.status_code == other.status_code == 413
    assert huge.json()["code"] == "body_too_large"


async def test_a_spec_url_on_a_private_address_is_refused_by_the_egress_guard(
    operator_url: str,
) -> None:
    async with operator(operator_url) as client:
        metadata = await client.post(
            WAIT, json={"url": "http://169.254.169.254/latest/openapi.json"}
        )
        private = await client.post(WAIT, json={"url": "http://10.1.2.3/openapi.json"})
    for response in (metadata, private):
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "spec_refused"
        assert body["message"].startswith("The spec's address was refused")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"not json at all {", "bad_request"),
        (b"[1, 2]", "bad_request"),
        (json.dumps({}).encode(), "bad_request"),
        (json.dumps({"url": "https://a.example/x", "document": {}}).encode(), "bad_request"),
        (json.dumps({"url": "file:///etc/passwd"}).encode(), "bad_request"),
        (json.dumps({"document": {"hello": "world"}}).encode(), "spec_error"),
        (json.dumps({"document": "a: &a [1,1]\nb: &b [*a,*a]\n" * 1}).encode(), "spec_error"),
        (
            json.dumps({"document": {"openapi": "3.0.0"}, "server": "ftp://x"}).encode(),
            "bad_request",
        ),
        (json.dumps({"document": {}, "name": "x\u0000y"}).encode(), "bad_request"),
        (json.dumps({"document": {}, "operator": "<script>"}).encode(), "bad_request"),
    ],
)
async def test_bad_requests_get_a_clear_error_code(
    operator_url: str, body: bytes, expected: str
) -> None:
    async with operator(operator_url) as client:
        response = await client.post(
            WAIT, content=body, headers={"Content-Type": "application/json"}
        )
    assert response.json()["code"] == expected, response.text
    assert response.status_code == (400 if expected == "bad_request" else 422)
    assert "Traceback" not in response.text


async def test_an_alias_bomb_in_a_yaml_document_is_refused(operator_url: str) -> None:
    bomb = "a: &a [" + ",".join(["x"] * 9) + "]\n"
    for level in "bcdefghij":
        previous = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [" + ",".join([f"*{previous}"] * 9) + "]\n"
    async with operator(operator_url) as client:
        response = await client.post(WAIT, json={"document": bomb})
    assert response.status_code == 422
    assert "alias" in response.json()["message"]


# -- drafts ------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def draft_server(
    request: pytest.FixtureRequest, start_server: ServerFactory, running_shop: str
) -> Iterator[str]:
    """The chat server on SQLite (the usual fixture) or on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        with start_server(operator_token=OPERATOR) as url:
            yield url
        return
    pg_url = request.getfixturevalue("pg_url")
    with serve_in_thread(server_settings(pg_url, running_shop, operator_token=OPERATOR)) as url:
        yield url


async def shop_draft(client: httpx.AsyncClient, shop: str, **extra: Any) -> dict[str, Any]:
    response = await client.post(WAIT, json={"url": f"{shop}/openapi.json", **extra})
    assert response.status_code == 201, response.text
    draft: dict[str, Any] = response.json()
    return draft


async def change(client: httpx.AsyncClient, import_id: str, **body: Any) -> httpx.Response:
    return await client.post(f"{IMPORTS}/{import_id}/changes", json=body)


async def test_an_operator_reviews_a_draft_changes_it_and_accepts_it(
    draft_server: str, running_shop: str
) -> None:
    async with operator(draft_server) as client:
        created = await shop_draft(client, running_shop, name="Shop", operator="Ana")
        assert created["name"] == "Shop" and created["created_by"] == "operator:Ana"
        draft_id = created["id"]
        listed = (await client.get(IMPORTS)).json()
        assert [d["id"] for d in listed] == [draft_id]
        assert "report" not in listed[0] and listed[0]["counts"]["write"] >= 1

        summary = await change(
            client,
            draft_id,
            operation="get_order",
            field="summary",
            value="Look up one order",
            operator="Bo",
        )
        assert summary.status_code == 201, summary.text
        role = await change(
            client,
            draft_id,
            operation="cancel_order",
            field="parameter.order_id.role",
            value="identity",
        )
        assert role.status_code == 201, role.text
        agent = await change(
            client, draft_id, operation="cancel_order", field="agent", value="orders"
        )
        relevance = await change(
            client, draft_id, operation="get_order", field="relevance", value="on"
        )
        assert agent.status_code == relevance.status_code == 201

        whole = (await client.get(f"{IMPORTS}/{draft_id}")).json()
        assert [(c["field"], c["changed_by"]) for c in whole["changes"]] == [
            ("summary", "operator:Bo"),
            ("parameter.order_id.role", "operator"),
            ("agent", "operator"),
            ("relevance", "operator"),
        ]
        assert whole["overrides"]["cancel_order"] == {
            "parameter.order_id.role": "identity",
            "agent": "orders",
        }
        assert whole["change_count"] == 4 and whole["warnings"] == []

        accepted = await client.post(f"{IMPORTS}/{draft_id}/accept", json={"operator": "Ana"})
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "accepted"
        assert accepted.json()["accepted_by"] == "operator:Ana"
        assert [
            d["id"] for d in (await client.get(IMPORTS, params={"status": "draft"})).json()
        ] == []


async def test_marking_a_write_operation_read_needs_a_confirmation_and_shows_a_warning(
    draft_server: str, running_shop: str
) -> None:
    async with operator(draft_server) as client:
        draft_id = (await shop_draft(client, running_shop))["id"]
        refused = await change(
            client, draft_id, operation="cancel_order", field="access", value="read"
        )
        assert refused.status_code == 409
        assert refused.json()["code"] == "confirmation_needed"
        assert "without asking anyone for approval" in refused.json()["message"]
        assert '"confirm": true' in refused.json()["message"]
        assert (await client.get(f"{IMPORTS}/{draft_id}")).json()["changes"] == []

        kept = await change(
            client,
            draft_id,
            operation="cancel_order",
            field="access",
            value="read",
            confirm=True,
            operator="Ana",
        )
        assert kept.status_code == 201, kept.text
        body = kept.json()
        assert body["changes"][-1]["confirmed"] is True
        assert body["changes"][-1]["previous"] == "write"
        assert body["overrides"]["cancel_order"]["access"] == "read"
        assert len(body["warnings"]) == 1 and "cancel_order" in body["warnings"][0]

        # Marking a read operation read, or a write one write, needs no confirmation.
        plain = await change(client, draft_id, operation="get_order", field="access", value="read")
        assert plain.status_code == 201 and plain.json()["changes"][-1]["confirmed"] is False
        back = await change(
            client, draft_id, operation="cancel_order", field="access", value="write"
        )
        assert back.status_code == 201 and back.json()["warnings"] == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"operation": "no_such_op", "field": "access", "value": "read"}, "no operation"),
        ({"operation": "get_order", "field": "colour", "value": "red"}, "not a field"),
        ({"operation": "get_order", "field": "access", "value": "delete"}, "one of read, write"),
        ({"operation": "get_order", "field": "relevance", "value": 3}, "one of on, off"),
        ({"operation": "get_order", "field": "agent", "value": "Robert'); DROP"}, "agent name"),
        ({"operation": "get_order", "field": "summary", "value": ""}, "1 to 500"),
        ({"operation": "get_order", "field": "summary", "value": "x" * 501}, "1 to 500"),
        ({"operation": "get_order", "field": "summary", "value": "a\x00b"}, "Unicode"),
        (
            {"operation": "get_order", "field": "parameter.nope.role", "value": "customer"},
            "no parameter",
        ),
        (
            {"operation": "get_order", "field": "parameter.order_id.role", "value": "boss"},
            "one of customer",
        ),
    ],
)
async def test_a_change_the_draft_cannot_take_is_refused_with_a_clear_message(
    operator_url: str, running_shop: str, body: dict[str, Any], words: str
) -> None:
    async with operator(operator_url) as client:
        draft_id = (await shop_draft(client, running_shop))["id"]
        response = await change(client, draft_id, **body)
        stored = (await client.get(f"{IMPORTS}/{draft_id}")).json()
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "bad_change"
    assert words in response.json()["message"]
    assert stored["changes"] == []


async def test_hostile_change_requests_are_bad_requests(
    operator_url: str, running_shop: str
) -> None:
    async with operator(operator_url) as client:
        draft_id = (await shop_draft(client, running_shop))["id"]
        answers = [
            await client.post(f"{IMPORTS}/{draft_id}/changes", content=b"not json"),
            await change(client, draft_id, operation="get_order", field="access"),
            await change(
                client, draft_id, operation="get_order", field="access", value="read", x=1
            ),
            await change(
                client,
                draft_id,
                operation="get_order",
                field="access",
                value="read",
                operator="a\u0000b",
            ),
            await change(client, draft_id, operation="x" * 201, field="access", value="read"),
        ]
    for response in answers:
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "bad_request"


async def test_closed_drafts_refuse_changes_and_the_other_decision(
    draft_server: str, running_shop: str
) -> None:
    async with operator(draft_server) as client:
        accepted = (await shop_draft(client, running_shop))["id"]
        discarded = (await shop_draft(client, running_shop))["id"]
        assert (await client.post(f"{IMPORTS}/{accepted}/accept")).status_code == 200
        gone = await client.post(f"{IMPORTS}/{discarded}/discard", json={"operator": "Bo"})
        assert gone.json()["discarded_by"] == "operator:Bo"

        again = await client.post(f"{IMPORTS}/{accepted}/accept")
        assert again.status_code == 200 and again.json()["accepted_by"] == "operator"
        answers = [
            await client.post(f"{IMPORTS}/{accepted}/discard"),
            await client.post(f"{IMPORTS}/{discarded}/accept"),
            await change(client, accepted, operation="get_order", field="access", value="read"),
            await change(client, discarded, operation="nope", field="nope", value=None),
        ]
        listed = (await client.get(IMPORTS, params={"status": "discarded"})).json()
    for response in answers:
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "import_closed"
    assert "discarded by operator:Bo" in answers[1].json()["message"]
    assert [d["id"] for d in listed] == [discarded]


async def test_unknown_drafts_are_not_found_and_bad_ids_are_refused(operator_url: str) -> None:
    async with operator(operator_url) as client:
        answers = [
            await client.get(f"{IMPORTS}/imp_missing"),
            await change(client, "imp_missing", operation="a", field="access", value="read"),
            await client.post(f"{IMPORTS}/imp_missing/accept"),
            await client.post(f"{IMPORTS}/imp_missing/discard"),
        ]
        bad_id = await client.get(f"{IMPORTS}/bad%20id")
        bad_status = await client.get(IMPORTS, params={"status": "live"})
        bad_limit = await client.get(IMPORTS, params={"limit": 0})
    for response in answers:
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "import_not_found"
        assert "imp_missing" in response.json()["message"]
    for response in (bad_id, bad_status, bad_limit):
        assert response.status_code == 400 and response.json()["code"] == "bad_request"


async def test_drafts_need_the_operator_token(operator_url: str) -> None:
    async with operator(operator_url, token="wrong") as client:
        answers = [
            await client.get(IMPORTS),
            await client.get(f"{IMPORTS}/imp_x"),
            await change(client, "imp_x", operation="a", field="access", value="read"),
            await client.post(f"{IMPORTS}/imp_x/accept"),
            await client.post(f"{IMPORTS}/imp_x/discard"),
        ]
    assert {r.status_code for r in answers} == {401}


async def test_a_draft_and_its_changes_survive_a_restart_of_the_server(
    start_server: ServerFactory, running_shop: str
) -> None:
    with start_server(operator_token=OPERATOR) as url:
        async with operator(url) as client:
            draft_id = (await shop_draft(client, running_shop))["id"]
            changed = await change(
                client, draft_id, operation="get_order", field="summary", value="Find an order"
            )
            assert changed.status_code == 201
    with start_server(operator_token=OPERATOR) as url:
        async with operator(url) as client:
            after = (await client.get(f"{IMPORTS}/{draft_id}")).json()
    assert after["status"] == "draft"
    assert after["overrides"] == {"get_order": {"summary": "Find an order"}}
    assert "get_order" in {op["name"] for op in after["report"]["operations"]}


def test_the_current_value_is_the_last_change_else_the_proposals_else_the_reports() -> None:
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    operation = {"name": "search", "access": "read", "parameters": [{"name": "q"}]}
    proposal = {
        "operations": [
            {
                "name": "search",
                "access": {"value": "write", "source": "rule"},
                "parameters": [{"name": "q", "role": {"value": "customer"}}],
            }
        ]
    }
    draft = ImportDraft(
        id="imp_1",
        name="x",
        source="document",
        status="draft",
        counts={},
        report={"operations": [operation]},
        proposal=proposal,
        created_by="operator",
        created_at=moment,
        updated_at=moment,
    )
    assert current_value(draft, [], operation, "access") == "write"
    assert current_value(draft, [], operation, "parameter.q.role") == "customer"
    assert current_value(replace(draft, proposal=None), [], operation, "access") == "read"
    later = ImportChange(1, "imp_1", "search", "access", "read", "write", "operator", moment)
    assert current_value(draft, [later], operation, "access") == "read"
