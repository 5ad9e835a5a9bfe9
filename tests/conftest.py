"""Fixtures shared by every test: real PostgreSQL databases, loopback-only network, no real LLM."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

import network_guard
from pg_admin import PG_ADMIN_URL

pytest_plugins = ["shop_fixture", "pytester"]


def pytest_configure(config: pytest.Config) -> None:
    # For the whole process, before any fixture: session fixtures and server threads included;
    # and for every Python process a test starts (see tests/guard_site/sitecustomize.py).
    network_guard.install()
    log = Path(tempfile.mkdtemp(prefix="ss-network-guard-")) / "children.log"
    network_guard.guard_children(log)


def pytest_unconfigure(config: pytest.Config) -> None:
    network_guard.uninstall()
    if network_guard.GUARD.children_log is not None:
        shutil.rmtree(network_guard.GUARD.children_log.parent, ignore_errors=True)


@pytest.fixture(autouse=True)
def loopback_only_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any connection off this machine fails the test, even when the code swallowed the error.

    The guard (tests/network_guard.py) raises where the connection is attempted and records
    it; a test that made one fails here. No real provider keys, no proxies, the offline model.
    """
    for key in (
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "ANTHROPIC_BASE_URL",
        "OPENAI_BASE_URL",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(key, raising=False)
        monkeypatch.delenv(key.lower(), raising=False)
    monkeypatch.setenv("LLM_PROVIDER", "offline")
    # libpq's sockets are invisible to Python: check where subprocesses would connect, too.
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith(("postgresql://", "postgres://")):
        network_guard.check_pg_hosts(database_url)
    network_guard.check_pg_hosts("")  # PGHOST / PGHOSTADDR
    leftover = network_guard.GUARD.take()
    assert not leftover, f"refused before this test started: {leftover}"
    yield
    refused = network_guard.GUARD.take()
    if refused:
        pytest.fail("\n".join(dict.fromkeys(refused)), pytrace=False)


@pytest.fixture
def network_refusals() -> Iterator[network_guard.NetworkGuard]:
    """For tests of the guard itself: `take()` the refusals the test expects."""
    yield network_guard.GUARD


def _admin() -> psycopg.Connection:
    network_guard.check_pg_hosts(PG_ADMIN_URL)  # the test databases live on this machine
    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # in CI a missing PostgreSQL is a failure
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    name = f"ss_test_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'smart-support.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Run the test once on a real SQLite file and once on the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'smart-support.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture
def book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The order book file of the engine tests' tools (tests/engine_tools.py)."""
    path = tmp_path / "book.json"
    monkeypatch.setenv("ENGINE_TEST_BOOK", str(path))
    return path


__all__ = ["AsyncIterator"]
