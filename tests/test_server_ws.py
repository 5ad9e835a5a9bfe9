"""The chat WebSocket against the real app under uvicorn, the real engine (offline model, SQLite)
and the real demo shop, driven by a real WebSocket client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websockets

from chat_client import (
    WAIT,
    Chat,
    ServerFactory,
    cancel_order_1042,
    connect,
    of_type,
    order_status,
    server_settings,
)
from smart_support.server import background
from smart_support.server.background import serve_in_thread
from smart_support.settings import Settings

#: The chat server fixtures (`start_server`, `chat_url`).
pytest_plugins = ["server_fixture"]

# hostile input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "bad_frame"),
        ("[1, 2, 3]", "bad_frame"),
        ('"start"', "bad_frame"),
        ("{}", "bad_frame"),
        ('{"type": "launch_missiles"}', "bad_frame"),
        ('{"type": "resume"}', "bad_frame"),
        ('{"type": "decision", "approval_id": "x", "decision": "maybe"}', "bad_frame"),
        ('{"type": "message", "text": ""}', "bad_frame"),
        ('{"type": "start", "extra": 1}', "bad_frame"),
        ('{"type": "start", "v": 2}', "unsupported_version"),
        ('{"type": "message", "text": "hello"}', "no_conversation"),
        ('{"type": "decision", "approval_id": "x", "decision": "approve"}', "no_conversation"),
    ],
)
async def test_a_malformed_frame_gets_an_error_frame_and_the_socket_stays_usable(
    chat_url: str, raw: str, code: str
) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        await ws.send(raw)
        error = await chat.recv()
        assert error["type"] == "error"
        assert error["code"] == code
        assert error["message"]
        await chat.send(type="ping")
        assert await chat.recv() == {"type": "pong"}


async def test_an_oversized_frame_gets_frame_too_large_and_the_socket_stays_usable(
    chat_url: str,
) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        await chat.start()
        await ws.send(json.dumps({"type": "message", "text": "x" * 20_000}))
        error = await chat.recv()
        assert (error["type"], error["code"]) == ("error", "frame_too_large")
        await ws.send(json.dumps({"type": "message", "text": "y" * 5_000}))
        assert (await chat.recv())["code"] == "message_too_long"
        await chat.send(type="ping")
        assert await chat.recv() == {"type": "pong"}


async def test_a_frame_beyond_the_transport_limit_closes_the_socket_but_not_the_server(
    chat_url: str,
) -> None:
    async with connect(chat_url, max_size=None) as ws:
        # The server may close while the frame is still being sent: either call sees the close.
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.send("x" * (2 * 1024 * 1024))
            await asyncio.wait_for(ws.recv(), WAIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with connect(chat_url) as ws:
        assert (await Chat(ws).start())["conversation_id"]


async def test_binary_frames_are_refused_with_an_error_frame(chat_url: str) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        await ws.send(b'{"type": "ping"}')
        assert (await chat.recv())["code"] == "bad_frame"
        await chat.send(type="ping")
        assert (await chat.recv())["type"] == "pong"


async def test_a_thousand_garbage_frames_in_a_row_each_get_an_error(chat_url: str) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        for i in range(1000):
            await ws.send(f"garbage {i} \x00\xff")
        codes = [(await chat.recv())["code"] for _ in range(1000)]
        assert set(codes) == {"bad_frame"}
        assert (await chat.start())["type"] == "conversation"


# conversations and access --------------------------------------------------------------------


async def test_a_new_conversation_gets_an_id_a_token_and_the_model_label(chat_url: str) -> None:
    async with connect(chat_url) as ws:
        frame = await Chat(ws).start()
    assert len(frame["conversation_id"]) >= 16
    assert len(frame["token"]) >= 24
    assert frame["model_label"] == "offline model"
    assert frame["is_offline"] is True
    assert frame["resumed"] is False


async def test_resuming_with_a_wrong_token_looks_the_same_as_an_unknown_conversation(
    chat_url: str,
) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        mine = await chat.start()
        await chat.send(type="resume", conversation_id=mine["conversation_id"], token="nope")
        wrong_token = await chat.recv()
        await chat.send(type="resume", conversation_id="does-not-exist", token=mine["token"])
        unknown = await chat.recv()
    assert wrong_token == unknown
    assert wrong_token["code"] == "unauthorized"


async def test_a_status_question_streams_tokens_from_the_orders_agent(chat_url: str) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        await chat.start()
        frames = await chat.say("What's the status of order 1042?")
    tokens = of_type(frames, "token")
    end = frames[-1]
    assert end["type"] == "reply_end"
    assert end["agent"] == "orders"
    assert len(tokens) > 3, "the reply arrives token by token"
    assert "".join(t["text"] for t in tokens).strip() == end["text"].strip()
    assert "1042" in end["text"]
    assert of_type(frames, "agent_selected")[0]["agent"] == "orders"


async def test_an_approved_cancellation_cancels_the_order_in_the_shop(
    chat_url: str,
    running_shop: str,
) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        await chat.start()
        request = await cancel_order_1042(chat)
        assert "tool" not in request, "customers see the action, not the tool's name"
        assert request["args"] == {"order_id": 1042}
        assert "1042" in request["summary"]
        assert await order_status(running_shop, 1042) != "cancelled", "nothing before approval"
        await chat.send(type="decision", approval_id=request["approval_id"], decision="approve")
        frames = await chat.until("reply_end", "error")
    resolved = of_type(frames, "approval_resolved")
    assert resolved[0]["status"] == "approved"
    assert resolved[0]["decided_by"] == "customer"
    assert frames[-1]["type"] == "reply_end"
    assert await order_status(running_shop, 1042) == "cancelled"


async def test_a_rejected_cancellation_leaves_the_order_open(
    chat_url: str,
    running_shop: str,
) -> None:
    before = await order_status(running_shop, 1042)
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        await chat.start()
        request = await cancel_order_1042(chat)
        await chat.send(type="decision", approval_id=request["approval_id"], decision="reject")
        frames = await chat.until("reply_end", "error")
    assert of_type(frames, "approval_resolved")[0]["status"] == "rejected"
    assert await order_status(running_shop, 1042) == before


async def test_reconnecting_restores_the_transcript_and_the_pending_approval(
    chat_url: str,
    running_shop: str,
) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        started = await chat.start()
        await chat.say("What's the status of order 1042?")
        request = await cancel_order_1042(chat)
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        await chat.send(
            type="resume", conversation_id=started["conversation_id"], token=started["token"]
        )
        conversation = await chat.recv()
        transcript = await chat.recv()
        assert conversation["type"] == "conversation" and conversation["resumed"] is True
        assert transcript["type"] == "transcript"
        kinds = [e["kind"] for e in transcript["events"]]
        assert "customer_message" in kinds and "reply_end" in kinds
        texts = [e["data"].get("text") for e in transcript["events"]]
        assert "What's the status of order 1042?" in texts
        pending = transcript["pending_approvals"]
        assert [p["approval_id"] for p in pending] == [request["approval_id"]]
        assert pending[0]["summary"] == request["summary"]
        await chat.send(type="decision", approval_id=request["approval_id"], decision="approve")
        frames = await chat.until("reply_end", "error")
    assert frames[-1]["type"] == "reply_end"
    assert await order_status(running_shop, 1042) == "cancelled"


async def test_a_customer_cannot_decide_an_approval_of_another_conversation(
    chat_url: str,
    running_shop: str,
) -> None:
    async with connect(chat_url) as victim_ws, connect(chat_url) as attacker_ws:
        victim, attacker = Chat(victim_ws), Chat(attacker_ws)
        await victim.start()
        request = await cancel_order_1042(victim)
        await attacker.start()
        await attacker.send(type="decision", approval_id=request["approval_id"], decision="approve")
        error = await attacker.recv()
    assert error["type"] == "error"
    assert error["code"] == "approval_error"
    assert await order_status(running_shop, 1042) != "cancelled"


async def test_a_turn_completes_and_is_stored_when_the_socket_closes_mid_reply(
    chat_url: str,
) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        started = await chat.start()
        await chat.send(type="message", text="What's the status of order 1042?")
        await chat.until("message_accepted")
    # Gone before the reply: the server finishes the turn anyway. Resume until it is stored.
    for _ in range(200):
        async with connect(chat_url) as ws:
            chat = Chat(ws)
            await chat.send(
                type="resume", conversation_id=started["conversation_id"], token=started["token"]
            )
            await chat.recv()
            transcript = await chat.recv()
        if any(e["kind"] == "reply_end" for e in transcript["events"]):
            break
        await asyncio.sleep(0.05)
    replies = [e for e in transcript["events"] if e["kind"] == "reply_end"]
    assert replies and "1042" in replies[0]["data"]["text"]


async def test_an_approval_left_to_expire_reaches_the_customer_as_expired(
    start_server: ServerFactory,
    running_shop: str,
) -> None:
    options = {"sweep_interval_seconds": 0.2}
    with start_server(approval_ttl_seconds=1, app_options=options) as url:
        async with connect(url) as ws:
            chat = Chat(ws)
            await chat.start()
            request = await cancel_order_1042(chat)
            frames = await chat.until("approval_resolved")
    assert frames[-1]["approval_id"] == request["approval_id"]
    assert frames[-1]["status"] == "expired"
    assert await order_status(running_shop, 1042) != "cancelled"


async def test_a_client_that_stops_reading_is_disconnected_and_others_keep_chatting(
    chat_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smart_support.server import ws as ws_module

    # A tiny receive buffer and no reading: the server's writes block and its queue fills.
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    raw.connect(("127.0.0.1", int(chat_url.rsplit(":", 1)[1])))
    raw.setblocking(False)
    monkeypatch.setattr(ws_module, "SEND_QUEUE_FRAMES", 16)  # only for the slow connection
    async with connect(chat_url, sock=raw, max_queue=1, ping_interval=None) as slow:
        await slow.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(slow.recv(), WAIT)) == {"type": "pong"}
        monkeypatch.undo()
        async with connect(chat_url) as ws:
            flood = json.dumps({"type": "ping"})
            closed = False
            try:
                for _ in range(200_000):
                    await slow.send(flood)
            except websockets.ConnectionClosed:
                closed = True
            chat = Chat(ws)
            await chat.start()
            frames = await chat.say("What's the status of order 1042?")
            assert frames[-1]["type"] == "reply_end"
        if not closed:
            # The server closed the slow socket; the client sees it once it reads again.
            with pytest.raises(websockets.ConnectionClosed) as info:
                while True:
                    await asyncio.wait_for(slow.recv(), WAIT)
            closed = info.value.rcvd is not None and info.value.rcvd.code == 1013
    assert closed


def test_the_background_server_reports_a_failed_start(sqlite_url: str) -> None:
    bad = Settings(database_url=sqlite_url, llm_provider="offline", agents_file="/no/such.yaml")
    with pytest.raises(RuntimeError, match="did not start"), background.serve_in_thread(bad):
        pass


def test_the_protocol_document_holds_the_schemas_of_the_current_models() -> None:
    from smart_support.server.schema_export import DOC, schemas_markdown

    assert schemas_markdown() in DOC.read_text(), (
        "docs/protocol.md is stale: run `python -m smart_support.server.schema_export`"
    )


def test_every_event_and_frame_is_named_after_its_tag() -> None:
    from typing import get_args

    from smart_support.runtime.events import Event
    from smart_support.server.protocol import CLIENT_FRAMES, SERVER_FRAMES

    events = get_args(get_args(Event)[0])
    assert len(events) >= 8
    for model, suffixes in [(m, ("",)) for m in events] + [
        (m, ("", "Frame")) for m in (*CLIENT_FRAMES, *SERVER_FRAMES)
    ]:
        tag = model.model_json_schema(mode="serialization")["properties"]["type"]["const"]
        camel = "".join(part.title() for part in tag.split("_"))
        assert model.__name__ in [camel + suffix for suffix in suffixes], (model.__name__, tag)


def test_the_web_uis_protocol_types_are_generated_from_the_current_models() -> None:
    from smart_support.server.schema_export import TYPESCRIPT, typescript

    assert TYPESCRIPT.read_text() == typescript(), (
        "web/src/protocol.ts is stale: run `python -m smart_support.server.schema_export`"
    )


# failures reach the customer -----------------------------------------------------------------


async def test_a_model_failure_reaches_the_customer_as_an_error_frame(
    start_server: ServerFactory,
) -> None:
    from smart_support.testing import ScriptedChatModel

    def outage(messages: object) -> str:
        raise TimeoutError("provider timed out")

    broken = ScriptedChatModel(default=outage)
    with start_server(app_options={"model": broken}) as url:
        async with connect(url) as ws:
            chat = Chat(ws)
            await chat.start()
            frames = await chat.say("What's the status of order 1042?")
            error = frames[-1]
            await chat.send(type="ping")
            assert (await chat.recv())["type"] == "pong"
    assert error["type"] == "error"
    assert error["code"] == "model_unavailable"
    assert "timed out" not in error["message"]


async def test_a_database_outage_reaches_the_customer_and_the_health_check(
    pg_url: str,
    running_shop: str,
) -> None:
    import psycopg

    # The same admin database the `pg_url` fixture uses (tests/conftest.py).
    admin_url = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
    name = pg_url.rsplit("/", 1)[1]
    with serve_in_thread(server_settings(pg_url, running_shop)) as url:
        async with connect(url) as ws:
            chat = Chat(ws)
            await chat.start()
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            frames = await chat.say("What's the status of order 1042?")
        async with httpx.AsyncClient(base_url=url) as client:
            health = await client.get("/healthz")
    assert frames[-1]["type"] == "error"
    assert frames[-1]["code"] == "store_unavailable"
    assert health.status_code == 503


# origins --------------------------------------------------------------------------------------


async def test_a_page_from_another_site_cannot_open_the_chat_socket(chat_url: str) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(chat_url, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403


async def test_the_servers_own_pages_and_listed_origins_can_open_the_chat_socket(
    start_server: ServerFactory,
) -> None:
    with start_server(allowed_origins=["https://shop.example"]) as url:
        own = url  # the page the server itself serves
        for origin in (own, "https://shop.example"):
            async with connect(url, origin=origin) as ws:
                assert (await Chat(ws).start())["type"] == "conversation"
        with pytest.raises(websockets.InvalidStatus):
            async with connect(url, origin="https://other.example"):
                pass


async def test_a_page_of_the_same_host_and_port_but_another_scheme_cannot_open_the_socket(
    chat_url: str,
) -> None:
    # The server speaks http here: an https page on the same host:port is another origin.
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(chat_url, origin=chat_url.replace("http://", "https://")):
            pass
    assert refused.value.response.status_code == 403


# what the browser is sent --------------------------------------------------------------------


def stored_events(database_url: str, kind: str) -> list[dict[str, Any]]:
    """The conversation event log as operators have it (the SQLite file itself)."""
    import sqlite3

    path = database_url.split(":///", 1)[1]
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT data FROM events WHERE kind = ? ORDER BY seq", (kind,))
        return [json.loads(data) for (data,) in rows]


async def test_tool_frames_tell_the_customer_what_happens_without_the_tools_data(
    chat_url: str, sqlite_url: str
) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        started = await chat.start()
        frames = await chat.say("What's the status of order 1042?")
    tools = of_type(frames, "tool_activity")
    assert [t["status"] for t in tools] == ["started", "succeeded"]
    for frame in tools:
        assert set(frame) == {"type", "conversation_id", "status", "label"}
    assert [t["label"] for t in tools] == ["Checking our records", "Got it"]
    assert "1042" in frames[-1]["text"], "the reply still uses the tool's result"
    # The event log keeps everything for operators: the tool, its arguments, its result.
    logged = stored_events(sqlite_url, "tool_activity")
    assert logged[0]["tool"] == "get_order_status"
    assert logged[0]["args"] == {"order_id": 1042}
    assert "1042" in logged[1]["detail"]
    assert all(e["conversation_id"] == started["conversation_id"] for e in logged)


async def test_a_resumed_transcript_shows_tool_calls_and_approvals_as_the_live_frames_do(
    chat_url: str,
) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        started = await chat.start()
        await chat.say("What's the status of order 1042?")
        await cancel_order_1042(chat)
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        await chat.send(
            type="resume", conversation_id=started["conversation_id"], token=started["token"]
        )
        await chat.recv()
        transcript = await chat.recv()
    tool_entries = [e for e in transcript["events"] if e["kind"] == "tool_activity"]
    assert tool_entries and all(set(e["data"]) == {"status", "label"} for e in tool_entries)
    [requested] = [e for e in transcript["events"] if e["kind"] == "approval_requested"]
    assert "tool" not in requested["data"] and requested["data"]["args"] == {"order_id": 1042}
    assert "tool" not in transcript["pending_approvals"][0]
    assert "get_order_status" not in json.dumps(transcript)


async def test_events_stored_under_their_old_kinds_are_shown_as_todays_frames(
    chat_url: str, sqlite_url: str
) -> None:
    import sqlite3

    async with connect(chat_url) as ws:
        started = await Chat(ws).start()
    old = [
        (
            "tool",
            {
                "agent": "orders",
                "tool": "get_order_status",
                "call_id": "c1",
                "status": "succeeded",
                "args": {},
                "detail": "card ending 2874",
            },
        ),
        ("error", {"code": "tool_error", "message": "The shop did not answer."}),
    ]
    with contextlib.closing(sqlite3.connect(sqlite_url.split(":///", 1)[1])) as db, db:
        for seq, (kind, data) in enumerate(old, start=1):
            data = {"conversation_id": started["conversation_id"], "type": kind, **data}
            db.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
                (
                    started["conversation_id"],
                    seq,
                    kind,
                    "orders",
                    json.dumps(data),
                    "2026-11-01T10:00:00+00:00",
                ),
            )
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        await chat.send(
            type="resume", conversation_id=started["conversation_id"], token=started["token"]
        )
        await chat.recv()
        transcript = await chat.recv()
    tool, error = transcript["events"]
    assert tool["kind"] == "tool_activity"
    assert tool["data"] == {"status": "succeeded", "label": "Got it"}
    assert error["kind"] == "error"
    assert error["data"] == {"code": "tool_error", "message": "The shop did not answer."}


async def test_the_conversation_frame_carries_the_welcome_text_and_the_link_domains(
    start_server: ServerFactory,
) -> None:
    welcome = "Welcome to Harbour Shoes! Ask me about your order."
    with start_server(welcome_message=welcome, link_domains=["harbour.example"]) as url:
        async with connect(url) as ws:
            frame = await Chat(ws).start()
    assert frame["welcome_message"] == welcome
    assert frame["link_domains"] == ["harbour.example"]


async def test_each_error_of_a_turn_reaches_the_socket_once(chat_url: str) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        await chat.start()
        for _ in range(3):
            await chat.send(type="decision", approval_id="no-such-approval", decision="approve")
        errors = [await chat.recv() for _ in range(3)]
        # A copy sent twice would arrive before the answer to this ping.
        await asyncio.sleep(0.2)
        await chat.send(type="ping")
        after = await chat.recv()
    assert [(e["type"], e["code"]) for e in errors] == [("error", "approval_error")] * 3
    assert after == {"type": "pong"}


async def test_a_database_outage_is_logged_once_by_the_sweeper_and_so_is_its_end(
    pg_url: str,
    running_shop: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from pg_admin import database_down

    def sweeps() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "sweep" in r.getMessage()]

    async def wait_for(condition: Callable[[], bool]) -> None:
        for _ in range(int(WAIT / 0.05)):
            if condition():
                return
            await asyncio.sleep(0.05)
        raise AssertionError([r.getMessage() for r in sweeps()])

    caplog.set_level(logging.INFO, logger="smart_support.server")
    options = {"sweep_interval_seconds": 0.05}
    with serve_in_thread(server_settings(pg_url, running_shop), **options):
        with database_down(pg_url):
            await wait_for(lambda: len(sweeps()) >= 1)
            await asyncio.sleep(1.0)  # some twenty failed sweeps
            during = sweeps()
        await wait_for(lambda: len(sweeps()) >= 2)
    failing, recovered = sweeps()[:2]
    assert len(during) == 1, [r.getMessage() for r in during]
    assert failing.levelno == logging.WARNING and failing.exc_info is None
    assert "failing" in failing.getMessage()
    assert recovered.levelno == logging.INFO and "work again" in recovered.getMessage()
    assert len(sweeps()) == 2


async def test_behind_a_tls_proxy_the_https_page_of_the_same_host_can_open_the_socket(
    chat_url: str,
) -> None:
    # The proxy (on loopback, trusted by default) says the page came over https.
    https_page = chat_url.replace("http://", "https://")
    async with connect(
        chat_url, origin=https_page, additional_headers={"X-Forwarded-Proto": "https"}
    ) as ws:
        assert (await Chat(ws).start())["type"] == "conversation"
    with pytest.raises(websockets.InvalidStatus):  # and then an http page is the other origin
        async with connect(
            chat_url, origin=chat_url, additional_headers={"X-Forwarded-Proto": "https"}
        ):
            pass
