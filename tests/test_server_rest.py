"""REST endpoints of the chat server over real HTTP (uvicorn on loopback, httpx)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chat_client import (
    Chat,
    ServerFactory,
    cancel_order_1042,
    connect,
    order_status,
    server_settings,
)
from smart_support.server.background import serve_in_thread

#: The chat server fixtures (`start_server`, `chat_url`).
pytest_plugins = ["server_fixture"]

OPERATOR = "op-secret-token-for-tests"


@pytest.fixture
def operator_url(start_server: ServerFactory) -> Iterator[str]:
    with start_server(operator_token=OPERATOR) as url:
        yield url


def operator(url: str, token: str = OPERATOR) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"})


async def test_health_reports_the_store_as_ok(chat_url: str) -> None:
    async with httpx.AsyncClient(base_url=chat_url) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "store": "ok"}


async def test_info_names_the_offline_model(chat_url: str) -> None:
    async with httpx.AsyncClient(base_url=chat_url) as client:
        info = (await client.get("/api/v1/info")).json()
    assert info["model_label"] == "offline model"
    assert info["is_offline"] is True
    assert info["websocket"] == "/ws/v1"


async def test_the_openapi_document_lists_the_operator_api(chat_url: str) -> None:
    async with httpx.AsyncClient(base_url=chat_url) as client:
        spec = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    assert "/api/v1/operator/approvals/{approval_id}/decision" in spec["paths"]
    assert docs.status_code == 200


async def test_a_customer_reads_their_transcript_with_their_token(chat_url: str) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        started = await chat.start()
        await chat.say("What's the status of order 1042?")
    cid = started["conversation_id"]
    async with httpx.AsyncClient(base_url=chat_url) as client:
        mine = await client.get(
            f"/api/v1/conversations/{cid}/transcript",
            headers={"X-Conversation-Token": started["token"]},
        )
        wrong = await client.get(
            f"/api/v1/conversations/{cid}/transcript", headers={"X-Conversation-Token": "guess"}
        )
        missing = await client.get(f"/api/v1/conversations/{cid}/transcript")
        unknown = await client.get(
            "/api/v1/conversations/nope/transcript",
            headers={"X-Conversation-Token": started["token"]},
        )
    assert mine.status_code == 200
    body = mine.json()
    assert body["conversation_id"] == cid
    assert body["events"][0]["kind"] == "customer_message"
    assert any(e["kind"] == "reply_end" for e in body["events"])
    assert wrong.status_code == missing.status_code == unknown.status_code == 404
    assert wrong.json() == unknown.json() == missing.json()
    assert wrong.json()["code"] == "conversation_not_found"


async def test_without_an_operator_token_configured_the_operator_api_is_disabled(
    chat_url: str,
) -> None:
    async with operator(chat_url, token="anything") as client:
        listing = await client.get("/api/v1/operator/approvals")
        deciding = await client.post(
            "/api/v1/operator/approvals/x/decision", json={"decision": "approve"}
        )
    assert listing.status_code == deciding.status_code == 404
    assert listing.json()["code"] == "operator_disabled"


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {OPERATOR}", OPERATOR])
async def test_the_operator_api_refuses_a_missing_or_wrong_token(
    operator_url: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    async with httpx.AsyncClient(base_url=operator_url, headers=headers) as client:
        for response in (
            await client.get("/api/v1/operator/approvals"),
            await client.get("/api/v1/operator/conversations"),
            await client.post(
                "/api/v1/operator/approvals/x/decision", json={"decision": "approve"}
            ),
        ):
            assert response.status_code == 401
            assert response.json()["code"] == "unauthorized"


async def test_an_operator_approves_a_pending_cancellation_and_the_customer_sees_it(
    operator_url: str,
    running_shop: str,
) -> None:
    async with connect(operator_url) as ws:
        chat = Chat(ws)
        started = await chat.start()
        request = await cancel_order_1042(chat)
        async with operator(operator_url) as client:
            pending = (await client.get("/api/v1/operator/approvals")).json()
            conversations = (await client.get("/api/v1/operator/conversations")).json()
            decided = await client.post(
                f"/api/v1/operator/approvals/{request['approval_id']}/decision",
                json={"decision": "approve", "operator": "sam"},
            )
        frames = await chat.until("reply_end", "error")
    assert [p["approval_id"] for p in pending] == [request["approval_id"]]
    assert pending[0]["args"] == {"order_id": 1042}
    assert started["conversation_id"] in [c["conversation_id"] for c in conversations]
    assert decided.status_code == 200, decided.text
    resolved = [f for f in frames if f["type"] == "approval_resolved"]
    assert resolved[0]["status"] == "approved"
    assert resolved[0]["decided_by"] == "operator:sam"
    assert await order_status(running_shop, 1042) == "cancelled"


async def test_an_operator_reads_the_whole_event_log_that_customers_see_projected(
    operator_url: str,
) -> None:
    async with connect(operator_url) as ws:
        chat = Chat(ws)
        started = await chat.start()
        await chat.say("What's the status of order 1042?")
    cid = started["conversation_id"]
    async with operator(operator_url) as client, httpx.AsyncClient(base_url=operator_url) as anyone:
        page = (await client.get(f"/api/v1/operator/conversations/{cid}/events")).json()
        unauthorised = await anyone.get(f"/api/v1/operator/conversations/{cid}/events")
    assert page["has_more"] is False and page["next_after"] is None
    tools = [e["data"] for e in page["events"] if e["kind"] == "tool_activity"]
    assert tools[0]["tool"] == "get_order_status" and tools[0]["args"] == {"order_id": 1042}
    assert "1042" in tools[1]["detail"]
    assert unauthorised.status_code == 401


async def test_deciding_an_unknown_approval_is_a_clear_error(operator_url: str) -> None:
    async with operator(operator_url) as client:
        response = await client.post(
            "/api/v1/operator/approvals/no-such-approval/decision", json={"decision": "reject"}
        )
        invalid = await client.post(
            "/api/v1/operator/approvals/x/decision", json={"decision": "perhaps"}
        )
    assert response.status_code == 409
    assert response.json()["code"] == "approval_error"
    assert invalid.status_code == 400
    assert invalid.json()["code"] == "bad_request"


async def test_the_web_ui_is_served_at_the_root_when_built(
    sqlite_url: str,
    running_shop: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>chat ui</title>")
    settings = server_settings(sqlite_url, running_shop)
    with serve_in_thread(settings, static_dir=tmp_path) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            page = await client.get("/")
            api = await client.get("/api/v1/info")
    assert "chat ui" in page.text
    assert api.status_code == 200


async def test_without_a_built_ui_the_root_explains_how_to_build_it(
    sqlite_url: str,
    running_shop: str,
    tmp_path: Path,
) -> None:
    settings = server_settings(sqlite_url, running_shop)
    with serve_in_thread(settings, static_dir=tmp_path / "missing") as url:
        async with httpx.AsyncClient(base_url=url) as client:
            page = await client.get("/")
    assert page.status_code == 200
    assert "make web" in page.text


async def test_an_unknown_path_is_a_json_404(chat_url: str) -> None:
    async with httpx.AsyncClient(base_url=chat_url) as client:
        response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert json.loads(response.text)["code"] == "not_found"


async def test_the_ui_pages_forbid_remote_content(chat_url: str) -> None:
    async with httpx.AsyncClient(base_url=chat_url) as client:
        page = await client.get("/")
        docs = await client.get("/docs")
    csp = page.headers["content-security-policy"]
    assert "img-src 'self' data:" in csp
    assert "default-src 'self'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in docs.headers  # Swagger UI loads from its CDN


def test_every_product_error_code_has_an_http_status_of_its_own() -> None:
    from smart_support import errors
    from smart_support.server.errors import HTTP_STATUS

    codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.SmartSupportError)
    }
    assert codes <= set(HTTP_STATUS), codes - set(HTTP_STATUS)
    # Only failures on our side (or of the systems behind us) are 5xx.
    server_side = {c for c in codes if HTTP_STATUS[c] >= 500}
    assert server_side == {
        "internal_error",
        "config_error",
        "egress_refused",
        "tool_error",
        "model_unavailable",
        "store_unavailable",
    }


async def test_an_operator_lists_the_actions_whose_outcome_is_unknown(
    start_server: ServerFactory, sqlite_url: str
) -> None:
    from datetime import UTC, datetime

    from smart_support.store import create_store

    store = create_store(sqlite_url)
    await store.setup()
    now = datetime.now(UTC)
    await store.begin_action("k-crashed", "ap-1", "c-1", "cancel_order", {"order_id": 1042}, now)
    await store.finish_action("k-crashed", "unknown", None, now)
    await store.begin_action("k-fine", "ap-2", "c-1", "cancel_order", {"order_id": 1043}, now)
    await store.finish_action("k-fine", "succeeded", {"ok": True}, now)
    await store.close()

    with start_server(operator_token=OPERATOR) as url:
        async with operator(url) as client:
            unknown = (await client.get("/api/v1/operator/actions?status=unknown")).json()
            every = (await client.get("/api/v1/operator/actions")).json()
        async with httpx.AsyncClient(base_url=url) as anonymous:
            refused = await anonymous.get("/api/v1/operator/actions")

    assert [(a["idempotency_key"], a["args"]) for a in unknown] == [
        ("k-crashed", {"order_id": 1042})
    ]
    assert {a["idempotency_key"] for a in every} == {"k-crashed", "k-fine"}
    assert refused.status_code == 401
