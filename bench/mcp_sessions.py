"""Per-call time of an MCP tool: the session held by the toolkit vs a new session per call.

    .venv/bin/python bench/mcp_sessions.py [--calls 50] [--fresh-calls 5]

Runs the test shop server (tests/mcp_servers/shop_server.py) over stdio (a subprocess) and over
streamable HTTP (uvicorn on a free loopback port, in a thread), calls `get_tracking`, and prints
median milliseconds per call. "fresh" is langchain-mcp-adapters' default (`client.get_tools()`:
every call opens a session, and over stdio starts a new server process).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from langchain_mcp_adapters.client import MultiServerMCPClient

from smart_support.registry.schema import McpServerSpec, ToolSpec
from smart_support.settings import Settings
from smart_support.tools.mcp import McpServer, _connection

SHOP = Path(__file__).resolve().parents[1] / "tests" / "mcp_servers" / "shop_server.py"


def _serve_http() -> tuple[str, uvicorn.Server, threading.Thread]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = importlib.util.spec_from_file_location("bench_shop_server", SHOP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = uvicorn.Server(
        uvicorn.Config(module.mcp.http_app(), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}/mcp", server, thread


async def _median_ms(tool: Any, calls: int) -> float:
    times = []
    for i in range(calls):
        start = time.perf_counter()
        await tool.ainvoke({"order_id": str(i)})
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


async def _measure(name: str, spec: McpServerSpec, settings: Settings, args: Any) -> None:
    server = McpServer(name, spec, settings)
    await server.start()
    try:
        held = server.tool("get_tracking", ToolSpec(mcp=name, tool="get_tracking"))
        await held.ainvoke({"order_id": "warm-up"})
        held_ms = await _median_ms(held, args.calls)
    finally:
        await server.aclose()
    client = MultiServerMCPClient({name: _connection(spec, settings, None)})  # type: ignore[dict-item]
    fresh = next(t for t in await client.get_tools() if t.name == "get_tracking")
    fresh_ms = await _median_ms(fresh, args.fresh_calls)
    print(
        f"{name:6} held session: {held_ms:7.1f} ms/call ({args.calls} calls)   "
        f"new session per call: {fresh_ms:7.1f} ms/call ({args.fresh_calls} calls)"
    )


async def _main(args: Any) -> None:
    url, server, thread = _serve_http()
    try:
        settings = Settings(egress_allowlist=[url.split("/")[2]])
        await _measure("stdio", McpServerSpec(command=["python", str(SHOP)]), settings, args)
        await _measure("http", McpServerSpec(url=url), settings, args)
    finally:
        server.should_exit = True
        thread.join()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--fresh-calls", type=int, default=5)
    asyncio.run(_main(parser.parse_args()))
