"""`smart-support mcp serve IMPORT` for real: the demo shop's /openapi.json, declared in an
agents.yaml, served by the command as a subprocess (stdio, then streamable HTTP) to a real MCP
client session; writes ask the client's user through MCP elicitation."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, TextContent

from shop_fixture import ShopServer, free_port
from smart_support.demo.shop import create_app

COMMAND = [sys.executable, "-m", "smart_support.cli", "mcp", "serve"]


def environment(tmp_path: Path, shop_url: str, auth: str = "") -> dict[str, str]:
    """The environment of `smart-support mcp serve`: agents.yaml importing the shop's spec (with
    the `auth:` lines given), and the loopback shop allowlisted by the egress guard."""
    agents = tmp_path / "agents.yaml"
    agents.write_text(
        "openapi:\n"
        f"  shop:\n    source: {shop_url}/openapi.json\n" + auth + "agents:\n"
        "  - name: orders\n"
        "    description: Orders.\n"
        "    role: fallback\n"
        "    tools:\n"
        "      - openapi: shop\n"
    )
    return {
        **os.environ,
        "AGENTS_FILE": str(agents),
        "EGRESS_ALLOWLIST": f"127.0.0.1:{urlsplit(shop_url).port}",
        "LLM_PROVIDER": "offline",
    }


@pytest.fixture
def env(tmp_path: Path, running_shop: str) -> dict[str, str]:
    return environment(tmp_path, running_shop)


class _QuietServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test runner owns signals
        pass


@pytest.fixture
def recording_shop() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A demo shop that records the headers of every request it gets: its URL and the record."""
    seen: list[dict[str, str]] = []
    shop = create_app()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            seen.append({**headers, ":path": scope["path"]})
        await shop(scope, receive, send)

    port = free_port()
    config = uvicorn.Config(app, port=port, log_level="warning", lifespan="off", loop="asyncio")
    server = _QuietServer(config)
    thread = threading.Thread(target=server.run, name="recording-shop", daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the recording shop failed to start"
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.should_exit = True
        thread.join()


class Elicitations:
    """A client user who answers every confirmation with `action` (and records the questions)."""

    def __init__(self, action: str, value: bool = True) -> None:
        self.action, self.value = action, value
        self.messages: list[str] = []

    async def __call__(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        self.messages.append(params.message)
        if self.action == "accept":
            return ElicitResult(action="accept", content={"value": self.value})
        return ElicitResult(action=self.action)  # type: ignore[arg-type]


@asynccontextmanager
async def stdio_session(
    env: dict[str, str], tmp_path: Path, *args: str, elicit: Elicitations | None = None
) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=COMMAND[0], args=[*COMMAND[1:], *args], env=env, cwd=str(tmp_path)
    )
    with (tmp_path / "server.stderr").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, elicitation_callback=elicit) as session,
        ):
            await session.initialize()
            yield session


@pytest.fixture
def http_server(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """`mcp serve shop --transport http` on a free loopback port: its MCP endpoint URL."""
    port = free_port()
    with (
        (tmp_path / "http.stderr").open("w") as errlog,
        (tmp_path / "http.stdout").open("w") as out,
    ):
        process = subprocess.Popen(
            [*COMMAND, "shop", "--transport", "http", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=errlog,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, (tmp_path / "http.stderr").read_text()[-3000:]
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "mcp serve did not listen"
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            process.terminate()
            process.wait(timeout=30)


@asynccontextmanager
async def http_session(
    url: str, elicit: Elicitations | None = None
) -> AsyncIterator[ClientSession]:
    async with (
        streamable_http_client(url) as (read, write, _),
        ClientSession(read, write, elicitation_callback=elicit) as session,
    ):
        await session.initialize()
        yield session


def payload(result: CallToolResult) -> Any:
    [block] = result.content
    assert isinstance(block, TextContent)
    return json.loads(block.text) if not result.isError else block.text


async def assert_the_shop_tools_answer(session: ClientSession) -> None:
    tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    get_order, cancel_order = tools["get_order"], tools["cancel_order"]
    assert get_order.annotations and get_order.annotations.readOnlyHint is True
    assert cancel_order.annotations and cancel_order.annotations.readOnlyHint is False
    assert cancel_order.annotations.destructiveHint is True
    assert "order_id" in get_order.inputSchema["properties"]
    assert get_order.inputSchema["required"] == ["order_id"]
    result = await session.call_tool("get_order", {"order_id": 1042})
    assert not result.isError
    assert payload(result)["status"] == "processing"
    assert result.structuredContent and result.structuredContent["id"] == 1042


async def test_over_stdio_get_order_is_read_only_cancel_order_destructive_and_1042_is_processing(
    env: dict[str, str], tmp_path: Path
) -> None:
    async with stdio_session(env, tmp_path, "shop") as session:
        await assert_the_shop_tools_answer(session)
    logged = (tmp_path / "server.stderr").read_text()
    assert "serving" in logged and "over stdio (writes: confirm)" in logged


async def test_over_streamable_http_the_same_tools_answer_and_logs_go_to_stderr(
    http_server: str, tmp_path: Path
) -> None:
    async with http_session(http_server) as session:
        await assert_the_shop_tools_answer(session)

    assert (tmp_path / "http.stdout").read_text() == ""
    logged = (tmp_path / "http.stderr").read_text()
    assert f"over {http_server} (writes: confirm)" in logged and '"POST /mcp' in logged


async def test_a_confirmed_cancellation_reaches_the_shop_once_with_a_fresh_idempotency_key(
    env: dict[str, str], tmp_path: Path, shop_process: ShopServer
) -> None:
    user = Elicitations("accept")
    async with stdio_session(env, tmp_path, "shop", elicit=user) as session:
        result = await session.call_tool("cancel_order", {"order_id": 1042, "reason": "oops"})

    assert not result.isError, payload(result)
    assert payload(result)["status"] == "cancelled"
    [question] = user.messages
    assert "POST /orders/{order_id}/cancel" in question and '"order_id": 1042' in question
    shop = shop_process.app.state.shop
    assert shop.order(1042).status == "cancelled"
    [key] = shop._idempotency
    assert uuid.UUID(key).version == 4


async def test_over_http_a_confirmed_cancellation_asks_the_client_and_cancels(
    http_server: str, shop_process: ShopServer
) -> None:
    user = Elicitations("accept")
    async with http_session(http_server, elicit=user) as session:
        result = await session.call_tool("cancel_order", {"order_id": 1042})

    assert payload(result)["status"] == "cancelled" and len(user.messages) == 1
    assert shop_process.app.state.shop.order(1042).status == "cancelled"


@pytest.mark.parametrize(
    "user",
    [Elicitations("decline"), Elicitations("cancel"), Elicitations("accept", value=False)],
    ids=["declined", "cancelled", "accepted-with-no"],
)
async def test_a_cancellation_the_user_does_not_confirm_sends_nothing(
    env: dict[str, str], tmp_path: Path, shop_process: ShopServer, user: Elicitations
) -> None:
    async with stdio_session(env, tmp_path, "shop", elicit=user) as session:
        result = await session.call_tool("cancel_order", {"order_id": 1042})

    assert not result.isError
    answer = payload(result)
    assert answer["ok"] is False and answer["sent"] is False
    assert "nothing was sent" in answer["error"]
    shop = shop_process.app.state.shop
    assert shop.order(1042).status == "processing" and shop._idempotency == {}


async def test_a_client_that_cannot_confirm_is_refused_a_write_and_told_about_writes_allow(
    env: dict[str, str], tmp_path: Path, shop_process: ShopServer
) -> None:
    async with stdio_session(env, tmp_path, "shop") as session:  # no elicitation callback
        result = await session.call_tool("cancel_order", {"order_id": 1042})
        read = await session.call_tool("get_order", {"order_id": 1042})

    assert result.isError
    message = payload(result)
    assert "--writes allow" in message and "nothing was sent" in message
    assert "Traceback" not in message
    assert payload(read)["status"] == "processing"
    assert shop_process.app.state.shop._idempotency == {}


async def test_with_writes_allow_each_write_runs_unasked_with_its_own_key_and_a_refusal_is_a_result(
    env: dict[str, str], tmp_path: Path, shop_process: ShopServer
) -> None:
    async with stdio_session(env, tmp_path, "shop", "--writes", "allow") as session:
        first = await session.call_tool("cancel_order", {"order_id": 1042})
        again = await session.call_tool("cancel_order", {"order_id": 1042})

    assert payload(first)["status"] == "cancelled"
    assert not again.isError, "the API's refusal is the tool's answer, not an MCP error"
    refused = payload(again)
    assert refused["ok"] is False and refused["status"] == 409
    assert len(shop_process.app.state.shop._idempotency) == 2, "a fresh key for each call"


async def test_with_writes_none_no_write_tool_is_listed(
    env: dict[str, str], tmp_path: Path
) -> None:
    async with stdio_session(env, tmp_path, "shop", "--writes", "none") as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}

    assert "get_order" in tools and "cancel_order" not in tools
    assert all(t.annotations and t.annotations.readOnlyHint for t in tools.values())
    assert "write tools hidden" in (tmp_path / "server.stderr").read_text()


@pytest.mark.parametrize("declared", [True, False], ids=["declared-import", "spec-url"])
async def test_a_server_on_a_private_address_is_refused_by_the_egress_guard_as_a_plain_tool_error(
    env: dict[str, str], tmp_path: Path, running_shop: str, declared: bool
) -> None:
    target = "shop" if declared else f"{running_shop}/openapi.json"
    async with stdio_session(
        env, tmp_path, target, "--server", "http://10.20.30.40:8080"
    ) as session:
        result = await session.call_tool("get_order", {"order_id": 1042})

    assert result.isError
    message = payload(result)
    assert message.startswith("GET /orders/{order_id}: the address was refused")
    assert "Traceback" not in message


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_an_unknown_import_name_is_one_clear_error_naming_the_declared_ones(
    env: dict[str, str],
) -> None:
    result = run(env, "nope")
    assert result.returncode == 2
    assert "no OpenAPI import named 'nope'" in result.stderr
    assert "declared: shop" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_the_spec_cannot_come_from_stdin_the_protocol_channel(env: dict[str, str]) -> None:
    result = run(env, "-")
    assert result.returncode == 2
    assert "stdin" in result.stderr and "Traceback" not in result.stderr


def test_a_spec_url_the_egress_guard_refuses_stops_start_up(env: dict[str, str]) -> None:
    result = run(env, "http://10.20.30.40/openapi.json")
    assert result.returncode == 1
    assert "\nrefused: 10.20.30.40 is a private address" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_help_shows_the_serve_options() -> None:
    result = run(dict(os.environ), "--help")
    assert result.returncode == 0
    for option in ("--transport", "--host", "--port", "--server", "--writes"):
        assert option in result.stdout


BEARER = "    auth:\n      type: bearer\n      token_env: SHOP_TOKEN\n"


async def test_the_imports_auth_reaches_the_api_and_never_the_mcp_client(
    tmp_path: Path, recording_shop: tuple[str, list[dict[str, str]]]
) -> None:
    url, seen = recording_shop
    env = {**environment(tmp_path, url, BEARER), "SHOP_TOKEN": "tok-s3cret-42"}
    user = Elicitations("accept")
    async with stdio_session(env, tmp_path, "shop", elicit=user) as session:
        listed = (await session.list_tools()).tools
        read = await session.call_tool("get_order", {"order_id": 1042})
        write = await session.call_tool("cancel_order", {"order_id": 1042})

    calls = [h for h in seen if h[":path"].startswith("/orders/")]
    assert [h[":path"] for h in calls] == ["/orders/1042", "/orders/1042/cancel"]
    assert all(h["authorization"] == "Bearer tok-s3cret-42" for h in calls)
    assert "idempotency-key" not in calls[0] and uuid.UUID(calls[1]["idempotency-key"])
    assert payload(read)["status"] == "processing" and payload(write)["status"] == "cancelled"
    shown = json.dumps([t.model_dump() for t in listed]) + json.dumps(user.messages)
    assert "tok-s3cret-42" not in shown and "authorization" not in shown.lower()


def test_a_missing_auth_secret_stops_start_up_naming_the_variable(
    tmp_path: Path, running_shop: str
) -> None:
    env = environment(tmp_path, running_shop, BEARER)
    env.pop("SHOP_TOKEN", None)
    result = run(env, "shop")
    assert result.returncode == 2
    assert "SHOP_TOKEN" in result.stderr and "Traceback" not in result.stderr
