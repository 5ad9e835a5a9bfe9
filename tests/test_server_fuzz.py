"""Hostile input at the chat server's edge, on SQLite and on PostgreSQL: no answer is a 5xx, every
bad frame gets an error frame, and neither the socket nor the keep-alive connection is dropped.

Each input here once reached a database or a parser unchecked (NUL characters, lone surrogates,
64-bit offsets, deep nesting, huge bodies); the server now refuses it at the edge.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chat_client import Chat, connect, server_settings
from smart_support.server.background import serve_in_thread

OPERATOR = "op-secret-token-for-fuzz-tests"
NESTED = "[" * 5000 + "]" * 5000  # 10 KB, under the 16 KiB frame limit, too deep to parse


@pytest.fixture
def fuzz_url(database_url: str, running_shop: str) -> Iterator[str]:
    settings = server_settings(database_url, running_shop, operator_token=OPERATOR)
    with serve_in_thread(settings) as url:
        yield url


def client_port(response: httpx.Response) -> int:
    """The local port of the connection that carried `response` (a new one means a new
    connection: the server dropped the previous one)."""
    stream = response.extensions["network_stream"]
    return int(stream.get_extra_info("client_addr")[1])


# (method, path, request options) that once answered 500 or worse.
HOSTILE_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/v1/conversations/a%00b/transcript", {}),
    ("GET", "/api/v1/conversations/a%00b/transcript", {"headers": {"X-Conversation-Token": "t"}}),
    (
        "GET",
        "/api/v1/conversations/%ED%A0%80/transcript",
        {"headers": {"X-Conversation-Token": "t"}},
    ),
    ("GET", "/api/v1/conversations/" + "a" * 5000 + "/transcript", {}),
    ("GET", "/api/v1/operator/conversations?offset=9223372036854775808", {}),
    ("GET", "/api/v1/operator/conversations?offset=-1", {}),
    ("GET", "/api/v1/operator/conversations?limit=99999999999999999999", {}),
    ("GET", "/api/v1/operator/conversations?limit=abc", {}),
    ("GET", "/api/v1/operator/approvals?conversation_id=a%00b", {}),
    ("POST", "/api/v1/operator/approvals/a%00b/decision", {"json": {"decision": "approve"}}),
    (
        "POST",
        "/api/v1/operator/approvals/x/decision",
        {"json": {"decision": "approve", "operator": "sam\x00"}},
    ),
    (
        "POST",
        "/api/v1/operator/approvals/x/decision",
        {"content": b'{"decision": "approve", "operator": "\\ud800"}'},
    ),
    ("POST", "/api/v1/operator/approvals/x/decision", {"content": NESTED.encode()}),
    (
        "POST",
        "/api/v1/operator/approvals/x/decision",
        {"content": ('{"decision": ' + NESTED + "}").encode()},
    ),
    ("POST", "/api/v1/operator/approvals/x/decision", {"content": b"\xff\xfe not json"}),
    ("POST", "/api/v1/operator/approvals/x/decision", {"content": b""}),
    ("POST", "/api/v1/operator/approvals/x/decision", {"json": [1, 2, 3]}),
    ("GET", "/api/v1/operator/approvals?conversation_id=%ED%A0%80", {}),
    ("GET", "/api/v1/operator/approvals?conversation_id=" + "a" * 5000, {}),
    (
        "GET",
        "/api/v1/conversations/%ff%fe/transcript",
        {"headers": {"X-Conversation-Token": b"\xff"}},
    ),
    ("POST", "/api/v1/operator/approvals/x/decision", {"content": b'{"decision": 1e999}'}),
    (
        "POST",
        "/api/v1/operator/approvals/x/decision",
        {"json": {"decision": "approve", "operator": "s" * 81}},
    ),
    (
        "POST",
        "/api/v1/operator/approvals/x/decision",
        {"json": {"decision": "approve", "operator": "<script>alert(1)</script>"}},
    ),
    (
        "POST",
        "/api/v1/operator/approvals/x/decision",
        {"json": {"decision": "approve"}, "headers": {"Content-Type": "text/plain"}},
    ),
    ("GET", "/%00", {}),
    ("GET", "/assets/%00.js", {}),
    ("GET", "/..%2f..%2f..%2fetc%2fpasswd", {}),
    ("GET", "/" + "x" * 8000, {}),
    ("DELETE", "/api/v1/info", {}),
]


async def test_hostile_requests_get_a_4xx_and_keep_the_connection(fuzz_url: str) -> None:
    headers = {"Authorization": f"Bearer {OPERATOR}"}
    async with httpx.AsyncClient(base_url=fuzz_url, headers=headers) as client:
        ports = set()
        for method, path, options in HOSTILE_REQUESTS:
            response = await client.request(method, path, **options)
            assert 400 <= response.status_code < 500, (method, path, response.text[:200])
            if path.startswith("/api/"):
                body = response.json()
                assert body["code"] and body["message"], body
                assert "Traceback" not in response.text and "psycopg" not in response.text
            ports.add(client_port(response))
        # Every answer came on one keep-alive connection: none made the server drop it.
        health = await client.get("/healthz")
        ports.add(client_port(health))
    assert health.status_code == 200
    assert len(ports) == 1


async def test_a_huge_body_is_refused_unread_without_auth(fuzz_url: str) -> None:
    async with httpx.AsyncClient(base_url=fuzz_url) as client:
        response = await client.post(
            "/api/v1/operator/approvals/x/decision",
            content=b"x" * (20 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert response.json()["code"] == "body_too_large"
        assert (await client.get("/healthz")).status_code == 200


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(fuzz_url: str) -> None:
    host, port = fuzz_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        raw.sendall(
            b"POST /api/v1/operator/approvals/x/decision HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"x" * 65536
        try:
            for _ in range(64):  # 4 MiB if nothing stopped it
                raw.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass  # the server answered and closed while we were still sending
        answer = raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]


# (frame text, the error codes that may answer it)
HOSTILE_FRAMES: list[tuple[str, set[str]]] = [
    (json.dumps({"type": "message", "text": "hello\x00world"}), {"bad_frame"}),
    ('{"type": "message", "text": "\\ud800 lone surrogate"}', {"bad_frame"}),
    (json.dumps({"type": "resume", "conversation_id": "a\x00b", "token": "t"}), {"bad_frame"}),
    (json.dumps({"type": "resume", "conversation_id": "abc", "token": "t\x00"}), {"bad_frame"}),
    ('{"type": "resume", "conversation_id": "\\udfff", "token": "t"}', {"bad_frame"}),
    (json.dumps({"type": "resume", "conversation_id": "x" * 10_000, "token": "t"}), {"bad_frame"}),
    (
        json.dumps({"type": "decision", "approval_id": "a\x00b", "decision": "approve"}),
        {"bad_frame"},
    ),
    (NESTED, {"bad_frame"}),
    ("[" * 1000 + "]" * 1000, {"bad_frame"}),
    ('{"type": "message", "text": ' + "[" * 990 + "]" * 990 + "}", {"bad_frame"}),
    ('{"type": "message", "text": ' + NESTED + "}", {"bad_frame"}),
    ('{"type": "start", "x": ' + "{" * 3000 + "}" * 3000 + "}", {"bad_frame"}),
    ('{"type": "ping", "v": 1e400}', {"unsupported_version"}),
    ('{"type": "ping", "v": NaN}', {"unsupported_version"}),
    ('{"type": 5}', {"bad_frame"}),
    ('{"type": null}', {"bad_frame"}),
    ('{"type": ["start"]}', {"bad_frame"}),
    ('{"type": {"start": 1}}', {"bad_frame"}),
    ('{"type": "message", "text": 12}', {"bad_frame"}),
    ('{"type": "message", "text": {"$gt": ""}}', {"bad_frame"}),
    ('{"type": "decision", "approval_id": ["x"], "decision": "approve"}', {"bad_frame"}),
    ("\x00", {"bad_frame"}),
    ("", {"bad_frame"}),
    ("1" * 10_000, {"bad_frame"}),
]


async def test_every_hostile_frame_gets_an_error_frame_and_the_socket_stays_usable(
    fuzz_url: str,
) -> None:
    async with connect(fuzz_url) as ws:
        chat = Chat(ws)
        started = await chat.start()
        for text, codes in HOSTILE_FRAMES:
            await ws.send(text)
            error = await chat.recv()
            assert error["type"] == "error", (text[:80], error)
            assert error["code"] in codes, (text[:80], error)
            assert "Traceback" not in error["message"] and "psycopg" not in error["message"]
            await chat.send(type="ping")
            assert await chat.recv() == {"type": "pong"}, text[:80]
        # Still attached to its conversation: a message is answered.
        frames = await chat.say("What's the status of order 1042?")
    assert frames[-1]["type"] == "reply_end", frames[-1]
    assert frames[0]["conversation_id"] == started["conversation_id"]


async def test_an_unexpected_error_is_a_json_500_that_keeps_the_connection(
    sqlite_url: str,
    running_shop: str,
) -> None:
    from fastapi.routing import APIRoute

    from smart_support.server.app import create_app

    settings = server_settings(sqlite_url, running_shop)
    app = create_app(settings)

    async def broken() -> None:
        raise RuntimeError("secret detail at db.internal:5432")

    # First, so the web UI mounted at / does not shadow it.
    app.router.routes.insert(0, APIRoute("/api/v1/broken", broken))
    with serve_in_thread(settings, app=app) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            response = await client.get("/api/v1/broken")
            health = await client.get("/healthz")
            ports = {client_port(response), client_port(health)}
    assert len(ports) == 1, "the server dropped the connection after the 500"
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "secret" not in response.text and "5432" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
