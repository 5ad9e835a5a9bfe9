"""Guarded clients share keep-alive connections inside `shared_connections()`, and the guard
still checks every request and redirect hop (a real HTTP/1.1 server on loopback)."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from dns_server import ScriptedResolver
from smart_support.egress import (
    EgressRefused,
    async_client,
    policy_from_settings,
    shared_connections,
)
from smart_support.egress._pools import shared_pools
from smart_support.settings import load_settings


@dataclass
class KeepAliveServer:
    """An HTTP/1.1 server on 127.0.0.1 that records each connection's client port."""

    port: int = 0
    connections: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    redirect_to: str = ""
    #: When set, each request waits here until this many requests are in the server at once.
    barrier: threading.Barrier | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    yield from _serve()


@pytest.fixture
def bystander() -> Iterator[KeepAliveServer]:
    """A second local server a redirect must never reach."""
    yield from _serve()


def _serve() -> Iterator[KeepAliveServer]:
    state = KeepAliveServer()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle(self) -> None:
            state.connections.append(self.client_address[1])
            try:
                super().handle()
            finally:
                state.closed.append(self.client_address[1])

        def do_GET(self) -> None:
            state.requests.append(self.path)
            if state.barrier is not None:
                state.barrier.wait()
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", state.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def _client(*allowlist: str) -> httpx.AsyncClient:
    config = load_settings(egress_allowlist=list(allowlist))
    policy = policy_from_settings(config, resolver=ScriptedResolver())
    return async_client(config, policy=policy)


async def _get_three_times(server: KeepAliveServer) -> None:
    for _ in range(3):
        async with _client(server.authority) as client:  # a new client each time, as tools do
            response = await client.get(f"{server.base}/orders/1")
        assert response.text == "hello"


async def test_clients_made_inside_shared_connections_reuse_one_keep_alive_connection(
    server: KeepAliveServer,
) -> None:
    async with shared_connections():
        await _get_three_times(server)
    assert len(server.requests) == 3
    assert len(server.connections) == 1


async def test_clients_made_outside_shared_connections_each_open_their_own(
    server: KeepAliveServer,
) -> None:
    await _get_three_times(server)
    assert len(server.connections) == 3


async def test_a_pooled_connection_does_not_let_a_client_without_the_allowlist_through(
    server: KeepAliveServer,
) -> None:
    async with shared_connections():
        async with _client(server.authority) as client:
            await client.get(f"{server.base}/first")
        async with _client() as client:
            with pytest.raises(EgressRefused, match=r"127\.0\.0\.1 is a loopback address"):
                await client.get(f"{server.base}/second")
    assert server.requests == ["/first"]


async def test_a_redirect_to_another_local_server_is_refused_inside_shared_connections(
    server: KeepAliveServer, bystander: KeepAliveServer
) -> None:
    server.redirect_to = f"{bystander.base}/secret"
    async with shared_connections():
        async with _client(bystander.authority) as client:
            await client.get(f"{bystander.base}/warm")  # the bystander now has a pooled socket
        async with _client(server.authority) as client:
            with pytest.raises(EgressRefused, match=r"127\.0\.0\.1 is a loopback address"):
                await client.get(f"{server.base}/redirect")
    assert server.requests == ["/redirect"]
    assert bystander.requests == ["/warm"]


async def test_thirty_concurrent_calls_to_one_host_do_not_wait_for_each_other(
    server: KeepAliveServer,
) -> None:
    # Each client had a pool of 20 of its own; sharing one must not cap a process at 20 calls
    # in flight to a host (a slow API would make the 21st wait for a free connection).
    server.barrier = threading.Barrier(30, timeout=20)

    async def call() -> str:
        async with _client(server.authority) as client:
            return (await client.get(f"{server.base}/slow")).text

    async with shared_connections():
        answers = await asyncio.gather(*(call() for _ in range(30)))
    assert answers == ["hello"] * 30
    assert len(server.connections) == 30


async def test_the_shared_connections_are_closed_when_the_last_user_leaves(
    server: KeepAliveServer,
) -> None:
    async with shared_connections():
        async with shared_connections():  # a second toolkit of the same loop
            await _get_three_times(server)
        assert shared_pools() is not None
        assert server.closed == []  # the outer user still holds the connection
    assert shared_pools() is None
    for _ in range(200):  # the server's handler thread sees the end of the stream
        if server.closed:
            break
        await asyncio.sleep(0.02)
    assert server.closed == server.connections
