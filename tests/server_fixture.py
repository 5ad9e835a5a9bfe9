"""Fixtures that start the chat server on a free loopback port (SQLite, offline model, the demo
shop): `start_server(**settings)` and `chat_url`.

A test module gets them with ``pytest_plugins = ["server_fixture"]``; the client helpers are in
`chat_client`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chat_client import ServerFactory, server_settings
from smart_support.server.background import serve_in_thread


@pytest.fixture
def start_server(sqlite_url: str, running_shop: str) -> ServerFactory:
    """Start the chat server with extra settings / app options; stopped when the block ends."""

    def start(*, app_options: dict[str, Any] | None = None, **settings: Any):
        return serve_in_thread(
            server_settings(sqlite_url, running_shop, **settings), **(app_options or {})
        )

    return start


@pytest.fixture
def chat_url(start_server: ServerFactory) -> Iterator[str]:
    with start_server() as url:
        yield url
