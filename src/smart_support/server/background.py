"""Run the chat server in a background thread on a free port (tests, benchmarks, the demo)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from smart_support.server.app import create_app
from smart_support.settings import Settings

#: Matches `smart_support.server.WS_MAX_BYTES`.
_WS_MAX_BYTES = 1024 * 1024


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the main thread owns signals
        pass


@contextmanager
def serve_in_thread(
    settings: Settings,
    *,
    port: int = 0,
    startup_timeout: float = 60.0,
    app: FastAPI | None = None,
    **app_options: Any,
) -> Iterator[str]:
    """Start `create_app(settings, **app_options)` on 127.0.0.1 and yield its base URL.

    The server (and the engine its lifespan opens) lives in its own thread and event loop; it is
    stopped, and running turns are drained, when the block exits.

    Args:
        settings: The settings; `host`/`port` are ignored in favour of loopback and `port`.
        port: The port to bind; 0 picks a free one.
        startup_timeout: Seconds to wait for the lifespan (engine open) to finish.
        app: An app built by the caller with `create_app` (tests that add a route).
        **app_options: Passed to `create_app` (engine, model, sweep_interval_seconds, ...).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        app or create_app(settings, **app_options),
        log_level="warning",
        access_log=False,
        lifespan="on",
        ws_max_size=_WS_MAX_BYTES,
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=15,
    )
    server = _ThreadServer(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"chat-server-{bound}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5)
            sock.close()
            raise RuntimeError(f"the chat server did not start: {failure[0] if failure else ''}")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
