"""A template's API on a free loopback port (uvicorn in a thread), and calls to it for grading.

The app is named as uvicorn names one (`module:attr`); uvicorn imports it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from smart_support.egress import async_client
from smart_support.settings import Settings


class FreshApp:
    """An ASGI app that can be swapped for a fresh one between runs: a template API whose app is
    built by a factory starts each run from its seed data, even without `POST /_state/reset`."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self.build = build
        self.app = build()

    def renew(self) -> None:
        self.app = self.build()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the caller owns signals
        pass


@contextmanager
def running_api(app: str | Any, *, port: int = 0, startup_timeout: float = 30.0) -> Iterator[str]:
    """Serve `app` ("module:attr" or an ASGI app) on 127.0.0.1:`port` (0: a free one); yield
    its URL."""
    # The asyncio loop: the test suite's network guard sees its sockets.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", loop="asyncio"
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, name="eval-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the API {app!r} did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


async def reset_state(settings: Settings, api_url: str) -> bool:
    """`POST /_state/reset`; False when the API has none (its state then carries over)."""
    async with async_client(settings, base_url=api_url) as client:
        response = await client.post("/_state/reset")
    return response.status_code < 300


async def state_hash(settings: Settings, api_url: str) -> str:
    """`GET /_state/hash`: the database hash (retail-tau2: as tau2 computes it)."""
    async with async_client(settings, base_url=api_url) as client:
        response = await client.get("/_state/hash")
        response.raise_for_status()
    return str(response.json()["hash"])


async def get_json(settings: Settings, api_url: str, path: str) -> tuple[int, Any]:
    async with async_client(settings, base_url=api_url) as client:
        response = await client.get(path)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return response.status_code, body
