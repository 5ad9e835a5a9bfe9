"""Metrics, readiness, JSON logs and the abuse limits, through the real chat server on loopback
(SQLite unless said, the offline model, the demo shop) and a real WebSocket client."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from chat_client import WAIT, Chat, ServerFactory, connect, of_type, server_settings
from smart_support.observability.health import check_database, readiness
from smart_support.observability.limits import Limits, SlidingWindow
from smart_support.observability.logs import JSON_HANDLER, JsonFormatter, conversation_id
from smart_support.redaction import Redactor
from smart_support.registry import load_registry
from smart_support.server.app import create_app
from smart_support.server.background import serve_in_thread
from smart_support.server.ws import CLOSE_TOO_MANY_SOCKETS
from smart_support.settings import Settings
from smart_support.store.migrations import migrate_sqlite
from smart_support.tools import open_toolkit

#: The chat server fixtures (`start_server`, `chat_url`).
pytest_plugins = ["server_fixture"]

ORDER_QUESTION = "What's the status of order 1042?"
SHOP_MCP_SERVER = Path(__file__).parent / "mcp_servers" / "shop_server.py"


def scrape(base: str, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The server's /metrics as {(sample name, sorted labels): value}."""
    response = httpx.get(f"{base}/metrics", headers=headers, timeout=WAIT)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def model_tokens(samples: dict[Any, float]) -> float:
    return sum(v for (name, _), v in samples.items() if name == "smart_support_model_tokens_total")


async def eventually(check: Any, what: str) -> None:
    """The turn's counters are written once its stream ends, just after `reply_end` is sent."""
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


# metrics -------------------------------------------------------------------------------------


async def test_metrics_count_the_turn_its_tool_call_its_tokens_and_the_open_socket(
    chat_url: str,
) -> None:
    before = scrape(chat_url)
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        await chat.start()
        frames = await chat.say(ORDER_QUESTION)
        assert frames[-1]["type"] == "reply_end", frames
        assert value(scrape(chat_url), "smart_support_open_sockets") >= 1

        def turn_counted() -> bool:
            now = scrape(chat_url)
            return value(now, "smart_support_turns_total", outcome="ok") > value(
                before, "smart_support_turns_total", outcome="ok"
            )

        await eventually(turn_counted, "the turn was not counted")
    after = scrape(chat_url)
    tool = {"tool": "get_order_status", "result": "succeeded"}
    assert value(after, "smart_support_tool_calls_total", **tool) == (
        value(before, "smart_support_tool_calls_total", **tool) + 1
    )
    assert value(after, "smart_support_turn_duration_seconds_count") > value(
        before, "smart_support_turn_duration_seconds_count"
    )
    assert model_tokens(after) > model_tokens(before), "the offline model reports its tokens"
    calls = [
        k
        for k, v in after.items()
        if k[0] == "smart_support_model_call_duration_seconds_count" and v > before.get(k, 0)
    ]
    assert calls, "the model calls are timed, by model"

    await eventually(
        lambda: (
            value(scrape(chat_url), "smart_support_open_sockets")
            == value(before, "smart_support_open_sockets")
        ),
        "the open socket gauge went back down",
    )


def test_metrics_need_the_operator_token_when_one_is_set(
    start_server: ServerFactory,
) -> None:
    with start_server(operator_token="t" * 32) as url:
        assert httpx.get(f"{url}/metrics").status_code == 401
        wrong = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert scrape(url, Authorization="Bearer " + "t" * 32)


# readiness -----------------------------------------------------------------------------------


def _sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1]


async def test_readyz_is_200_on_a_migrated_database_and_healthz_stays(
    chat_url: str,
) -> None:
    async with httpx.AsyncClient(base_url=chat_url) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {
            "status": "ready",
            "not_ready": [],
            "database": "ok",
            "migrations": "ok",
            "mcp": {},
        }
        assert (await client.get("/healthz")).status_code == 200


def test_readyz_is_503_naming_the_database_when_its_file_is_unreadable(
    chat_url: str, sqlite_url: str
) -> None:
    path = _sqlite_path(sqlite_url)
    garbage = f"{path}.garbage"
    with open(garbage, "wb") as f:
        f.write(b"this is not a database" * 100)
    os.replace(garbage, path)  # the server's open connection keeps the old file
    response = httpx.get(f"{chat_url}/readyz", timeout=WAIT)
    assert response.status_code == 503
    assert response.json()["not_ready"] == ["database"]
    assert response.json()["database"] == "down"


def test_readyz_is_503_when_a_migration_is_missing(chat_url: str, sqlite_url: str) -> None:
    with closing(sqlite3.connect(_sqlite_path(sqlite_url))) as db:
        db.execute("DELETE FROM schema_migrations WHERE version = 2")
        db.commit()
    response = httpx.get(f"{chat_url}/readyz", timeout=WAIT)
    assert response.status_code == 503
    body = response.json()
    assert body["not_ready"] == ["migrations"]
    assert body["missing_migrations"] == [2]


def test_readyz_is_200_on_a_migrated_postgres(pg_url: str, running_shop: str) -> None:
    with serve_in_thread(server_settings(pg_url, running_shop)) as url:
        response = httpx.get(f"{url}/readyz", timeout=WAIT)
    assert response.status_code == 200, response.text


async def test_an_unreachable_postgres_is_not_ready() -> None:
    settings = Settings(database_url="postgresql://postgres@127.0.0.1:1/nothing_here")
    answer = await check_database(settings)
    assert answer == {"ready": False, "database": "down", "migrations": "unknown"}


async def test_readyz_names_an_mcp_server_whose_session_is_down(
    tmp_path: Path, sqlite_url: str
) -> None:
    migrate_sqlite(_sqlite_path(sqlite_url))
    agents = tmp_path / "agents.yaml"
    agents.write_text(
        f"mcp_servers:\n  shop:\n    command: [python, {SHOP_MCP_SERVER}]\n"
        "agents:\n  - name: general\n    description: Anything.\n    role: fallback\n"
        "    tools:\n      - mcp: shop\n        tool: whoami\n        access: read\n"
    )
    settings = Settings(database_url=sqlite_url)
    async with open_toolkit(load_registry(agents), settings) as toolkit:
        up = await readiness(settings, toolkit.servers)
        assert up["status"] == "ready" and up["mcp"] == {"shop": "up"}, up
        pid = json.loads(await toolkit.tools_for("general")[0].ainvoke({}))["pid"]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + WAIT
        while (down := await readiness(settings, toolkit.servers))["status"] == "ready":
            assert time.monotonic() < deadline, "the dead session was never noticed"
            await asyncio.sleep(0.05)
    assert down["not_ready"] == ["mcp:shop"]
    assert down["mcp"] == {"shop": "down"}


def test_the_servers_readyz_pings_the_mcp_servers_its_agents_use(
    tmp_path: Path, start_server: ServerFactory
) -> None:
    agents = tmp_path / "agents.yaml"
    agents.write_text(
        f"mcp_servers:\n  shop:\n    command: [python, {SHOP_MCP_SERVER}]\n"
        "agents:\n  - name: general\n    description: Anything.\n    role: fallback\n"
        "    tools:\n      - mcp: shop\n        tool: whoami\n        access: read\n"
    )
    with start_server(agents_file=agents) as url:
        response = httpx.get(f"{url}/readyz", timeout=WAIT)
    assert response.status_code == 200, response.text
    assert response.json()["mcp"] == {"shop": "up"}


# logs ----------------------------------------------------------------------------------------


@pytest.fixture
def json_log_lines() -> Iterator[io.StringIO]:
    """What the JSON handler (installed by the server the test starts) writes; removed after."""
    stream = io.StringIO()
    yield stream
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == JSON_HANDLER:
            root.removeHandler(handler)


def _json_handler() -> logging.StreamHandler[Any]:
    for handler in logging.getLogger().handlers:
        if handler.get_name() == JSON_HANDLER:
            assert isinstance(handler, logging.StreamHandler)
            return handler
    raise AssertionError("LOG_FORMAT=json installed no handler")


async def test_json_logs_carry_the_conversation_id_and_mask_personal_data(
    start_server: ServerFactory, json_log_lines: io.StringIO
) -> None:
    with start_server(log_format="json", redact_personal_data=True, log_level="INFO") as url:
        _json_handler().setStream(json_log_lines)
        async with connect(url) as ws:
            chat = Chat(ws)
            started = await chat.start()
            await chat.say(ORDER_QUESTION)
            logging.getLogger("smart_support.server").info(
                "outside any conversation, mail jo@example.com", extra={"email": "jo@example.com"}
            )
    lines = [json.loads(line) for line in json_log_lines.getvalue().splitlines() if line]
    ours = [line for line in lines if started["conversation_id"] in line.get("message", "")]
    assert ours, lines
    assert all(line["conversation_id"] == started["conversation_id"] for line in ours)
    assert {"time", "level", "logger", "message"} <= set(ours[0])
    outside = next(line for line in lines if line["message"].startswith("outside"))
    assert "jo@example.com" not in json.dumps(outside)
    assert "conversation_id" not in outside


def test_the_json_formatter_masks_the_message_fields_and_traceback() -> None:
    formatter = JsonFormatter(Redactor(enabled=True))
    try:
        raise ValueError("bad address jo@example.com")
    except ValueError:
        record = logging.LogRecord(
            "smart_support.test", logging.ERROR, __file__, 1, "from %s", ("jo@example.com",), None
        )
        import sys

        record.exc_info = sys.exc_info()
    record.customer_email = "jo@example.com"
    record.order = {"phone": "+44 20 7946 0958", "id": 1042}
    token = conversation_id.set("conv-1")
    try:
        line = json.loads(formatter.format(record))
    finally:
        conversation_id.reset(token)
    assert "jo@example.com" not in json.dumps(line)
    assert "0958" not in json.dumps(line)
    assert line["conversation_id"] == "conv-1"
    assert line["order"]["id"] == 1042
    assert "ValueError" in line["exception"]
    unmasked = json.loads(JsonFormatter().format(record))
    assert "jo@example.com" in unmasked["message"]


# limits --------------------------------------------------------------------------------------


def test_a_sliding_window_counts_the_last_window_only_and_forgets_idle_keys() -> None:
    clock = Clock()
    window = SlidingWindow(2, 60.0, clock)
    assert window.hit("a") and window.hit("a")
    assert not window.hit("a"), "the third hit in a minute"
    assert window.hit("b"), "another key has its own count"
    clock.now += 30.0
    assert not window.hit("a")
    assert window.retry_after("a") == pytest.approx(30.0)
    clock.now += 30.0
    assert window.hit("a"), "the first hits have left the window"
    clock.now += 120.0
    for n in range(2048):  # the sweep forgets keys whose window has passed
        window.hit(f"k{n % 8}")
    assert len(window) == 8
    assert SlidingWindow(0).hit("x"), "0 means no limit"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _app_with_clock(settings: Settings, clock: Clock) -> Any:
    app = create_app(settings)
    limits = Limits.from_settings(settings)
    limits.messages = SlidingWindow(settings.rate_limit_messages_per_minute, 60.0, clock)
    limits.conversations = SlidingWindow(settings.rate_limit_conversations_per_minute, 60.0, clock)
    app.state.limits = limits
    return app


async def test_the_21st_message_in_a_minute_is_rate_limited_and_the_next_minute_works(
    sqlite_url: str, running_shop: str
) -> None:
    settings = server_settings(sqlite_url, running_shop)
    assert settings.rate_limit_messages_per_minute == 20
    clock = Clock()
    with serve_in_thread(settings, app=_app_with_clock(settings, clock)) as url:
        async with connect(url) as ws:
            chat = Chat(ws)
            await chat.start()
            for n in range(20):
                frames = await chat.say(f"hello {n}")
                assert frames[-1]["type"] == "reply_end", (n, frames)
            refused = await chat.say("one too many")
            assert refused[-1]["type"] == "error"
            assert refused[-1]["code"] == "rate_limited"
            assert "wait" in refused[-1]["message"]
            clock.now += 60.0  # the next minute: the same socket carries on
            frames = await chat.say(ORDER_QUESTION)
            assert frames[-1]["type"] == "reply_end", frames
        assert value(scrape(url), "smart_support_rate_limited_total", limit="messages") >= 1


async def test_new_conversations_are_rate_limited_per_ip(
    sqlite_url: str, running_shop: str
) -> None:
    settings = server_settings(sqlite_url, running_shop, rate_limit_conversations_per_minute=3)
    clock = Clock()
    with serve_in_thread(settings, app=_app_with_clock(settings, clock)) as url:
        async with connect(url) as ws:
            chat = Chat(ws)
            for _ in range(3):
                await chat.start()
            await chat.send(type="start")
            refused = await chat.recv()
            assert refused["type"] == "error" and refused["code"] == "rate_limited", refused
            await chat.send(type="ping")
            assert (await chat.recv())["type"] == "pong", "the socket stays open"
            clock.now += 60.0
            await chat.start()


async def test_a_normal_conversation_is_never_limited(chat_url: str) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        await chat.start()
        frames: list[dict[str, Any]] = []
        for text in (ORDER_QUESTION, "thanks", "and order 1042 again?", "ok", "bye"):
            frames += await chat.say(text)
        errors = of_type(frames, "error")
        assert not errors, errors
        assert len(of_type(frames, "reply_end")) == 5


async def test_too_many_sockets_from_one_ip_are_refused_with_4029(
    start_server: ServerFactory,
) -> None:
    with start_server(max_sockets_per_ip=2) as url:
        async with connect(url) as first, connect(url) as second:
            async with connect(url) as third:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(third.recv(), WAIT)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == CLOSE_TOO_MANY_SOCKETS
            for ws in (first, second):
                await Chat(ws).send(type="ping")
                assert json.loads(await asyncio.wait_for(ws.recv(), WAIT))["type"] == "pong"
            await first.close()
        # the count follows the sockets: once they closed, new ones are welcome
        async with connect(url) as again:
            await Chat(again).start()


async def test_a_conversation_past_its_length_is_refused_politely_even_when_resumed(
    start_server: ServerFactory,
) -> None:
    with start_server(max_conversation_turns=2) as url:
        async with connect(url) as ws:
            chat = Chat(ws)
            started = await chat.start()
            for text in ("hello", "thanks"):
                assert (await chat.say(text))[-1]["type"] == "reply_end"
            refused = await chat.say("one more")
            assert refused[-1]["code"] == "conversation_too_long", refused
            assert "new conversation" in refused[-1]["message"]
        async with connect(url) as ws:
            chat = Chat(ws)
            await chat.send(
                type="resume", conversation_id=started["conversation_id"], token=started["token"]
            )
            await chat.until("transcript")
            refused = await chat.say("still here?")
            assert refused[-1]["code"] == "conversation_too_long", refused
            await chat.start()  # a new conversation is welcome
            assert (await chat.say("hello"))[-1]["type"] == "reply_end"
