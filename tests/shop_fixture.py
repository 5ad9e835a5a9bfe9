"""A real demo shop on a free loopback port, for any test that needs the shop over HTTP.

Use it from a test module with ``from shop_fixture import running_shop, shop_process  # noqa: F401``
(or list ``shop_fixture`` in ``pytest_plugins`` of the root conftest). One uvicorn server per test
session keeps the suite fast; every test that asks for `running_shop` gets a fresh dataset, so
writes never leak between tests. `shop_server(today=...)` starts a separate shop with its own clock.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date

import pytest
import uvicorn
from fastapi import FastAPI

from smart_support.demo.shop import create_app
from smart_support.demo.shop.store import ShopState


class _QuietServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test runner owns signals
        pass


@dataclass
class ShopServer:
    """A shop running in a thread: its base URL and its app (to reset its state)."""

    url: str
    app: FastAPI

    def reset(self, *, today: date | None = None) -> None:
        """Start over from the generated dataset, optionally with another "today"."""
        self.app.state.shop = ShopState(today=today)


@contextmanager
def shop_server(*, today: date | None = None) -> Iterator[ShopServer]:
    """Run the shop in a thread on a free 127.0.0.1 port; stop it on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(today=today)
    # The asyncio loop (not uvloop): the test network guard sees the connections it makes.
    config = uvicorn.Config(app, log_level="warning", lifespan="off", loop="asyncio")
    server = _QuietServer(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="demo-shop", daemon=True
    )
    thread.start()
    while not server.started:  # uvicorn flips `started` once the socket accepts
        if not thread.is_alive():
            raise RuntimeError("the demo shop failed to start")
        time.sleep(0.005)
    try:
        yield ShopServer(url=f"http://127.0.0.1:{port}", app=app)
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


def free_port() -> int:
    """A loopback port nobody listens on (for "the shop is down" tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Shared:
    """One server for the whole session, even when several modules import the fixture."""

    stack: ExitStack | None = None
    server: ShopServer | None = None
    users = 0


@pytest.fixture(scope="session")
def shop_process() -> Iterator[ShopServer]:
    """The session's one shop server; prefer `running_shop`, which resets its data."""
    if _Shared.users == 0:
        _Shared.stack = ExitStack()
        _Shared.server = _Shared.stack.enter_context(shop_server())
    _Shared.users += 1
    try:
        assert _Shared.server is not None
        yield _Shared.server
    finally:
        _Shared.users -= 1
        if _Shared.users == 0 and _Shared.stack is not None:
            _Shared.stack.close()
            _Shared.stack = _Shared.server = None


@pytest.fixture
def running_shop(shop_process: ShopServer) -> str:
    """The base URL of a demo shop holding a fresh copy of the dataset."""
    shop_process.reset()
    return shop_process.url
