"""MCP servers as tool sources, for real: FastMCP over stdio (a subprocess) and streamable HTTP."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import pytest_asyncio
import uvicorn
from langchain_core.messages import ToolMessage

from smart_support.errors import ConfigError, ToolError
from smart_support.registry import load_registry
from smart_support.settings import Settings
from smart_support.tools import Toolkit, open_toolkit, resolve_toolkit

pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVERS = Path(__file__).parent / "mcp_servers"
SHOP_SERVER = SERVERS / "shop_server.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _import_shop_server() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ss_test_shop_server", SHOP_SERVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _HttpShop:
    """The test shop served over streamable HTTP by uvicorn, in a thread, on a loopback port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/mcp"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        app = _import_shop_server().mcp.http_app()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="critical", timeout_graceful_shutdown=1
        )
        self._server = server = uvicorn.Server(config)
        self._thread = thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        pause = threading.Event()
        while thread.is_alive() and not server.started:
            pause.wait(0.02)
        assert server.started, "uvicorn did not start"

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join()


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    """The URL of a test shop served over HTTP for the whole module."""
    shop = _HttpShop(_free_port())
    shop.start()
    yield shop.url
    shop.stop()


def _settings(*urls: str) -> Settings:
    hosts = [url.split("/")[2] for url in urls]
    return Settings(egress_allowlist=hosts)


def _write(tmp_path: Path, servers: str, tools: str) -> Path:
    path = tmp_path / "agents.yaml"
    path.write_text(
        "mcp_servers:\n" + servers + "agents:\n"
        "  - name: general\n"
        "    description: Anything.\n"
        "    role: fallback\n"
        "    tools:\n" + tools
    )
    return path


STDIO = f"  shop:\n    command: [python, {SHOP_SERVER}]\n"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def toolkit(
    http_server: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Toolkit]:
    """One toolkit for the module: the shop over stdio and the same shop over HTTP."""
    path = _write(
        tmp_path_factory.mktemp("agents"),
        STDIO + f"  web:\n    url: {http_server}\n",
        "      - mcp: shop\n"
        "        read_tools: [get_tracking, whoami, refuse]\n"
        "      - mcp: web\n"
        "        tool: whoami\n"
        "        name: web_whoami\n"
        "        access: read\n"
        "      - mcp: web\n"
        "        tool: get_tracking\n"
        "        name: web_tracking\n"
        "        access: read\n"
        "      - mcp: web\n"
        "        tool: cancel_order\n"
        "        name: web_cancel\n"
        "        summary: Cancel order {order_id}\n",
    )
    async with open_toolkit(load_registry(path), _settings(http_server)) as opened:
        yield opened


async def test_every_tool_of_a_stdio_server_is_listed_with_its_access(toolkit: Toolkit) -> None:
    tools = toolkit.tools_for("general")

    assert [t.name for t in tools] == [
        "get_tracking",
        "cancel_order",
        "whoami",
        "refuse",
        "web_whoami",
        "web_tracking",
        "web_cancel",
    ]
    assert tools[0].metadata == {
        "access": "read",
        "summary": None,
        "source": "mcp:shop",
    }
    assert tools[0].description == "Tracking number and carrier of an order."
    assert tools[6].metadata == {
        "access": "write",
        "summary": "Cancel order {order_id}",
        "source": "mcp:web",
    }


async def test_a_whole_server_tool_left_out_of_read_tools_is_a_write(toolkit: Toolkit) -> None:
    # cancel_order of the stdio shop is not listed under read_tools, so it waits for approval.
    assert toolkit.access("cancel_order") == "write"
    assert toolkit.access("get_tracking") == "read"


async def test_access_read_on_a_whole_mcp_server_is_refused_with_the_way_out(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, STDIO, "      - mcp: shop\n        access: read\n")

    with pytest.raises(ConfigError) as err:
        load_registry(path)

    assert "agents[0].tools[0]" in str(err.value)
    assert "read_tools:" in str(err.value)


async def test_read_tools_naming_a_tool_the_server_lacks_is_a_config_error(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, STDIO, "      - mcp: shop\n        read_tools: [whoami, delete_all]\n")

    async with resolve_toolkit(load_registry(path), Settings()) as (_, errors):
        assert [e.field for e in errors] == ["agents[0].tools[0].read_tools"]
        assert "no tool 'delete_all'" in str(errors[0])


async def test_an_approved_mcp_write_sends_its_idempotency_key_as_request_metadata(
    toolkit: Toolkit,
) -> None:
    from smart_support.tools import ToolContext, tool_context

    tools = {t.name: t for t in toolkit.tools_for("general")}
    with tool_context(ToolContext(Settings(), idempotency_key="key-123")):
        stdio = await tools["cancel_order"].ainvoke({"order_id": "9"})
        http = await tools["web_cancel"].ainvoke({"order_id": "9"})
    without = await tools["cancel_order"].ainvoke({"order_id": "9"})

    assert stdio == "order 9 cancelled (idempotency key key-123)"
    assert http == "order 9 cancelled (idempotency key key-123)"
    assert without == "order 9 cancelled"


async def test_an_mcp_tool_without_declared_access_counts_as_write(toolkit: Toolkit) -> None:
    # The server marks cancel_order readOnlyHint=True; only agents.yaml decides.
    assert toolkit.access("web_cancel") == "write"
    assert toolkit.access("whoami") == "read"


async def test_a_stdio_call_returns_the_result_as_json_text(toolkit: Toolkit) -> None:
    tool = next(t for t in toolkit.tools_for("general") if t.name == "get_tracking")

    result = await tool.ainvoke({"order_id": "1042"})

    assert json.loads(result) == {"order_id": "1042", "carrier": "DHL", "tracking": "TRK-1042"}


async def test_a_tool_call_message_carries_the_structured_result_as_artifact(
    toolkit: Toolkit,
) -> None:
    tool = next(t for t in toolkit.tools_for("general") if t.name == "web_tracking")
    call = {"id": "c1", "name": "web_tracking", "args": {"order_id": "7"}, "type": "tool_call"}

    message = await tool.ainvoke(call)

    assert isinstance(message, ToolMessage)
    assert json.loads(message.content) == {"order_id": "7", "carrier": "DHL", "tracking": "TRK-7"}  # type: ignore[arg-type]
    assert message.artifact == {"structured_content": json.loads(message.content)}  # type: ignore[arg-type]


async def test_the_same_stdio_session_answers_every_call(toolkit: Toolkit) -> None:
    tool = next(t for t in toolkit.tools_for("general") if t.name == "whoami")

    answers = [json.loads(await tool.ainvoke({})) for _ in range(3)]

    assert len({(a["pid"], a["session"]) for a in answers}) == 1
    assert answers[-1]["sessions_seen"] == 1
    assert answers[0]["pid"] != os.getpid()


async def test_concurrent_calls_from_several_tasks_share_the_one_session(
    toolkit: Toolkit,
) -> None:
    tool = next(t for t in toolkit.tools_for("general") if t.name == "whoami")

    answers = await asyncio.gather(*(asyncio.create_task(tool.ainvoke({})) for _ in range(5)))

    assert len({json.loads(a)["session"] for a in answers}) == 1
    assert json.loads(answers[-1])["sessions_seen"] == 1


async def test_the_same_http_session_answers_every_call(toolkit: Toolkit) -> None:
    tool = next(t for t in toolkit.tools_for("general") if t.name == "web_whoami")

    answers = [json.loads(await tool.ainvoke({})) for _ in range(3)]

    assert len({a["session"] for a in answers}) == 1
    assert answers[0]["sessions_seen"] == answers[-1]["sessions_seen"]
    assert answers[0]["pid"] == os.getpid()  # served by uvicorn inside the test process


async def test_a_tool_error_from_the_server_reaches_the_model(toolkit: Toolkit) -> None:
    tool = next(t for t in toolkit.tools_for("general") if t.name == "refuse")
    call = {"id": "c2", "name": "refuse", "args": {"reason": "closed"}, "type": "tool_call"}

    message = await tool.ainvoke(call)

    assert isinstance(message, ToolMessage)
    assert message.status == "error"
    assert message.content == "refused: closed"


async def test_a_killed_stdio_server_fails_the_next_call_and_is_restarted_after(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, STDIO, "      - mcp: shop\n        read_tools: [whoami]\n")
    async with open_toolkit(load_registry(path), Settings()) as opened:
        tools = {t.name: t for t in opened.tools_for("general")}
        pid = json.loads(await tools["whoami"].ainvoke({}))["pid"]
        os.kill(pid, signal.SIGKILL)

        with pytest.raises(ToolError, match="MCP server 'shop'") as caught:
            await tools["get_tracking"].ainvoke({"order_id": "1"})
        assert caught.value.code == "tool_error"

        restarted = json.loads(await tools["whoami"].ainvoke({}))
        assert restarted["pid"] != pid


async def test_a_dead_server_that_cannot_restart_fails_calls_with_tool_error(
    tmp_path: Path,
) -> None:
    servers = STDIO + f"    env:\n      SHOP_SERVER_ONCE: {tmp_path / 'started'}\n"
    path = _write(tmp_path, servers, "      - mcp: shop\n        read_tools: [whoami]\n")
    async with open_toolkit(load_registry(path), Settings()) as opened:
        tools = {t.name: t for t in opened.tools_for("general")}
        os.kill(json.loads(await tools["whoami"].ainvoke({}))["pid"], signal.SIGKILL)

        with pytest.raises(ToolError, match="MCP server 'shop'"):
            await tools["get_tracking"].ainvoke({"order_id": "1"})
        with pytest.raises(ToolError, match=r"is not reachable .*'get_tracking' was not called"):
            await tools["get_tracking"].ainvoke({"order_id": "2"})


async def test_an_http_server_that_goes_away_fails_the_call_and_is_reconnected_later(
    tmp_path: Path,
) -> None:
    shop = _HttpShop(_free_port())
    shop.start()
    try:
        path = _write(tmp_path, f"  web:\n    url: {shop.url}\n", "      - mcp: web\n")
        async with open_toolkit(load_registry(path), _settings(shop.url)) as opened:
            whoami = next(t for t in opened.tools_for("general") if t.name == "whoami")
            first = json.loads(await whoami.ainvoke({}))
            await asyncio.to_thread(shop.stop)

            with pytest.raises(ToolError, match=r"MCP server 'web' .*cannot connect"):
                await whoami.ainvoke({})
            with pytest.raises(ToolError, match="is not reachable"):
                await whoami.ainvoke({})

            shop.start()
            again = json.loads(await whoami.ainvoke({}))
            assert again["session"] != first["session"]
    finally:
        shop.stop()


async def test_closing_the_toolkit_stops_the_stdio_server(tmp_path: Path) -> None:
    path = _write(tmp_path, STDIO, "      - mcp: shop\n        tool: whoami\n")
    async with open_toolkit(load_registry(path), Settings()) as opened:
        pid = json.loads(await opened.tools_for("general")[0].ainvoke({}))["pid"]
        os.kill(pid, 0)  # alive while the toolkit is open

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_server_without_the_named_tool_is_a_config_error(
    tmp_path: Path, http_server: str
) -> None:
    path = _write(
        tmp_path,
        f"  web:\n    url: {http_server}\n",
        "      - mcp: web\n        tool: get_weather\n",
    )
    with pytest.raises(ConfigError) as caught:
        async with open_toolkit(load_registry(path), _settings(http_server)):
            pass

    assert (caught.value.line, caught.value.field) == (9, "agents[0].tools[0].tool")
    assert str(caught.value).endswith(
        "MCP server 'web' has no tool 'get_weather' "
        "(it offers: get_tracking, cancel_order, whoami, refuse)"
    )


@pytest.mark.parametrize(
    ("server", "reason"),
    [
        ("command: [smart-support-no-such-program]", "command not found"),
        (f"command: [python, {SERVERS / 'crashing_server.py'}]", "connection closed"),
        ("url: http://127.0.0.1:{port}/mcp", "cannot connect"),
    ],
)
async def test_an_unreachable_server_is_a_config_error_naming_its_entry(
    tmp_path: Path, server: str, reason: str
) -> None:
    port = _free_port()
    server = server.format(port=port)
    path = _write(tmp_path, f"  shop:\n    {server}\n", "      - mcp: shop\n")
    with pytest.raises(ConfigError) as caught:
        async with open_toolkit(load_registry(path), _settings(f"http://127.0.0.1:{port}/")):
            pass

    assert (caught.value.file, caught.value.line) == (str(path), 2)
    assert caught.value.field == "mcp_servers.shop"
    assert "MCP server 'shop' is unreachable" in str(caught.value)
    assert reason in str(caught.value)


async def test_an_mcp_url_the_egress_guard_refuses_is_a_config_error(
    tmp_path: Path, http_server: str
) -> None:
    path = _write(tmp_path, f"  web:\n    url: {http_server}\n", "      - mcp: web\n")
    with pytest.raises(ConfigError, match="egress guard refused it") as caught:
        async with open_toolkit(load_registry(path), Settings(egress_allowlist=[])):
            pass

    assert (caught.value.line, caught.value.field) == (2, "mcp_servers.web")


async def test_validation_collects_errors_from_every_server_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "  one:\n    command: [smart-support-no-such-program]\n"
        "  two:\n    command: [smart-support-other-missing-program]\n",
        "      - mcp: one\n      - mcp: two\n",
    )
    async with resolve_toolkit(load_registry(path), Settings()) as (opened, errors):
        assert [(e.line, e.field) for e in errors] == [
            (2, "mcp_servers.one"),
            (4, "mcp_servers.two"),
        ]
        assert opened.tools_for("general") == []
