"""Live approvals on the operator socket (issue 14, item 2): `approval_requested` (as the REST
list gives it) and `approval_resolved` reach every connected operator socket, through the real
server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from chat_client import WAIT, Chat, ServerFactory, cancel_order_1042, connect

pytest_plugins = ["server_fixture"]

OPERATOR = "op-secret-token-for-approvals"


@pytest.fixture
def server(start_server: ServerFactory) -> Iterator[str]:
    with start_server(operator_token=OPERATOR) as url:
        yield url


def operator_socket(url: str) -> Any:
    return websockets.connect(
        url.replace("http://", "ws://", 1) + "/ws/v1/operator",
        additional_headers={"Authorization": f"Bearer {OPERATOR}"},
        open_timeout=WAIT,
    )


async def next_approval_frame(ws: Any) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        if frame["type"] in ("approval_requested", "approval_resolved"):
            return frame


async def ready(ws: Any) -> None:
    while json.loads(await asyncio.wait_for(ws.recv(), WAIT))["type"] != "operator_ready":
        pass


async def test_every_operator_socket_gets_requests_and_decisions(server: str) -> None:
    async with operator_socket(server) as one, operator_socket(server) as two:
        await ready(one)
        await ready(two)
        async with connect(server) as ws:
            chat = Chat(ws)
            started = await chat.start()
            await chat.say("What's the status of order 1042?")
            request = await cancel_order_1042(chat)
            requested = [await next_approval_frame(one), await next_approval_frame(two)]
            async with httpx.AsyncClient(
                base_url=server, headers={"Authorization": f"Bearer {OPERATOR}"}
            ) as api:
                listed = (await api.get("/api/v1/operator/approvals")).json()
                [approval] = listed
                for frame in requested:
                    assert frame == {"type": "approval_requested", **approval}
                assert approval["approval_id"] == request["approval_id"]
                assert approval["conversation_id"] == started["conversation_id"]
                assert approval["status"] == "pending" and approval["tool"]
                decided = await api.post(
                    f"/api/v1/operator/approvals/{approval['approval_id']}/decision",
                    json={"decision": "reject", "operator": "ana"},
                )
                assert decided.status_code == 200, decided.text
            for sock in (one, two):
                assert await next_approval_frame(sock) == {
                    "type": "approval_resolved",
                    "approval_id": approval["approval_id"],
                    "conversation_id": started["conversation_id"],
                    "status": "rejected",
                    "decided_by": "operator:ana",
                }


async def test_a_customer_decision_reaches_the_operator_socket(server: str) -> None:
    async with operator_socket(server) as console:
        await ready(console)
        async with connect(server) as ws:
            chat = Chat(ws)
            await chat.start()
            await chat.say("What's the status of order 1042?")
            request = await cancel_order_1042(chat)
            assert (await next_approval_frame(console))["approval_id"] == request["approval_id"]
            await chat.send(type="decision", approval_id=request["approval_id"], decision="approve")
            resolved = await next_approval_frame(console)
        assert resolved["type"] == "approval_resolved"
        assert resolved["status"] == "approved" and resolved["decided_by"] == "customer"


async def test_an_expired_approval_is_resolved_on_the_operator_socket(
    start_server: ServerFactory,
) -> None:
    with start_server(
        app_options={"sweep_interval_seconds": 0.1}, operator_token=OPERATOR, approval_ttl_seconds=1
    ) as url:
        async with operator_socket(url) as console:
            await ready(console)
            async with connect(url) as ws:
                chat = Chat(ws)
                await chat.start()
                await chat.say("What's the status of order 1042?")
                request = await cancel_order_1042(chat)
                requested = await next_approval_frame(console)
                assert requested["approval_id"] == request["approval_id"]
                resolved = await next_approval_frame(console)
        assert resolved["type"] == "approval_resolved"
        assert resolved["approval_id"] == request["approval_id"]
        assert resolved["status"] == "expired" and resolved["decided_by"] == "system"
